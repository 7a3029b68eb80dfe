"""The caller's webhook signing secret: read it, rotate it with a grace period."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from genflow.db.webhooks import SecretState, WebhookSecretRepository
from genflow.settings import Settings

from ..state import app_state


class WebhookSecretService:
    def __init__(self, secrets: WebhookSecretRepository, settings: Settings) -> None:
        self._secrets = secrets
        self._settings = settings

    async def current(self, user: str) -> SecretState:
        return await self._secrets.state_for(user)

    async def rotate(self, user: str, grace_seconds: float | None) -> SecretState:
        """A new secret; the replaced one keeps signing for `grace_seconds` (default
        GENFLOW_WEBHOOK_SECRET_GRACE_SECONDS)."""
        if grace_seconds is None:
            grace_seconds = self._settings.webhook_secret_grace_seconds
        return await self._secrets.rotate(user, timedelta(seconds=grace_seconds))


async def get_webhook_secret_service(request: Request) -> WebhookSecretService:
    state = app_state(request)
    return WebhookSecretService(state.webhook_secrets, state.settings)


WebhookSecretServiceDep = Annotated[WebhookSecretService, Depends(get_webhook_secret_service)]
