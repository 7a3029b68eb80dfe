"""Webhook signing secrets, one per user, made on first use."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.models import WebhookSecret
from genflow.webhooks import new_secret


class WebhookSecretRepository:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_maker

    async def secret_for(self, user_id: str) -> str:
        """The user's secret, created on first use (safe to race)."""
        async with self._sessions() as session:
            found = await session.get(WebhookSecret, user_id)
            if found is not None:
                return found.secret
        try:
            async with self._sessions.begin() as session:
                session.add(WebhookSecret(user_id=user_id, secret=new_secret()))
        except IntegrityError:
            pass  # a concurrent call made it first
        async with self._sessions() as session:
            made = await session.get(WebhookSecret, user_id)
            assert made is not None
            return made.secret
