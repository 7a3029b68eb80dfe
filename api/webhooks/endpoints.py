"""The endpoints of the caller's webhook signing secret: read it, rotate it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from ..deps import CurrentUser
from ..problems import problems
from .schemas import RotateRequest, WebhookSecretState
from .service import WebhookSecretServiceDep

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get("/secret", summary="Your webhook signing secret", responses=problems())
async def webhook_secret(user: CurrentUser, secrets: WebhookSecretServiceDep) -> WebhookSecretState:
    """Verify deliveries with it per Standard Webhooks: HMAC-SHA256 over
    `webhook-id.webhook-timestamp.body` with the base64 key after `whsec_`."""
    return WebhookSecretState.of(await secrets.current(user))


@router.post(
    "/secret/rotate",
    summary="Replace your webhook signing secret",
    responses=problems(413),
)
async def rotate_webhook_secret(
    user: CurrentUser,
    secrets: WebhookSecretServiceDep,
    body: Annotated[RotateRequest | None, Body()] = None,
) -> WebhookSecretState:
    """A new secret signs every delivery from now on. Until `previous_expires_at`
    deliveries carry a second `v1,` signature made with the replaced secret, so
    receivers can switch without missing an event. Rotating again within that grace
    ends it: only the secret just replaced keeps signing."""
    grace = body.grace_seconds if body is not None else None
    return WebhookSecretState.of(await secrets.rotate(user, grace))
