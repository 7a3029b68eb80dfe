"""The caller's webhook signing secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from genflow.db.webhooks import WebhookSecretRepository

from ..deps import CurrentUser
from ..schemas import WebhookSecretOut
from .generations import problems

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def get_secrets(request: Request) -> WebhookSecretRepository:
    secrets: WebhookSecretRepository = request.state.webhook_secrets
    return secrets


@router.get("/secret", summary="Your webhook signing secret", responses=problems())
async def webhook_secret(
    user: CurrentUser, secrets: Annotated[WebhookSecretRepository, Depends(get_secrets)]
) -> WebhookSecretOut:
    """Verify deliveries with it per Standard Webhooks: HMAC-SHA256 over
    `webhook-id.webhook-timestamp.body` with the base64 key after `whsec_`."""
    return WebhookSecretOut(secret=await secrets.secret_for(user))
