"""The caller's webhook signing secret, and its rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from genflow.db.webhooks import SecretState

from ..deps import CurrentUser
from ..schemas import WebhookSecretOut
from ..webhook_secrets import WebhookSecretServiceDep
from .common import problems

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
MAX_GRACE_SECONDS = 7 * 24 * 3600


class WebhookSecretState(WebhookSecretOut):
    previous_expires_at: datetime | None = Field(
        description="Until when deliveries are also signed with the secret the last "
        "rotation replaced; null when they are signed with `secret` only"
    )

    @classmethod
    def of(cls, state: SecretState) -> WebhookSecretState:
        return cls(secret=state.secret, previous_expires_at=state.previous_expires_at)


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: float | None = Field(
        default=None,
        ge=0,
        le=MAX_GRACE_SECONDS,
        strict=True,  # a number, not false (pydantic would read it as 0)
        description="How long the replaced secret keeps signing (0: not at all, e.g. "
        "after a leak); default GENFLOW_WEBHOOK_SECRET_GRACE_SECONDS (24 h)",
    )


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
