"""The webhook signing secret as clients see it, and the body of its rotation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from genflow.db.webhooks import SecretState


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="`whsec_` + base64 key for the HMAC-SHA256 signatures")


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
