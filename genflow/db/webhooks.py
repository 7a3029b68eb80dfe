"""Webhook signing secrets, one per user, made on first use and rotated on request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.models import WebhookSecret, utcnow
from genflow.webhooks import new_secret


@dataclass(frozen=True)
class SecretState:
    """The user's current secret, and until when the one it replaced still signs."""

    secret: str
    previous_expires_at: datetime | None


class WebhookSecretRepository:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_maker

    async def secret_for(self, user_id: str) -> str:
        """The user's secret, created on first use (safe to race)."""
        return (await self._row(user_id)).secret

    async def state_for(self, user_id: str, now: datetime | None = None) -> SecretState:
        """The current secret and, while its grace lasts, when the replaced one expires."""
        row = await self._row(user_id)
        return SecretState(row.secret, _unexpired(row, now or utcnow()))

    async def signing_secrets(self, user_id: str, now: datetime | None = None) -> list[str]:
        """The secrets a delivery is signed with: the current one first, then the one a
        rotation replaced, until its grace ends."""
        row = await self._row(user_id)
        if _unexpired(row, now or utcnow()) is None or row.previous_secret is None:
            return [row.secret]
        return [row.secret, row.previous_secret]

    async def rotate(self, user_id: str, grace: timedelta) -> SecretState:
        """Replace the user's secret with a new one; the old one keeps signing for
        `grace` (zero: not at all). A rotation within an earlier one's grace ends that
        grace: only the secret just replaced stays valid."""
        await self._row(user_id)  # the row to rotate exists, even for a first call
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(WebhookSecret).where(WebhookSecret.user_id == user_id).with_for_update()
            )
            assert row is not None  # secrets are never deleted
            now = utcnow()
            row.previous_secret = row.secret
            row.previous_expires_at = now + grace
            row.secret = new_secret()
            row.created_at = now
            return SecretState(row.secret, _unexpired(row, now))

    async def _row(self, user_id: str) -> WebhookSecret:
        async with self._sessions() as session:
            found = await session.get(WebhookSecret, user_id)
            if found is not None:
                return found
        try:
            async with self._sessions.begin() as session:
                session.add(WebhookSecret(user_id=user_id, secret=new_secret()))
        except IntegrityError:
            pass  # a concurrent call made it first
        async with self._sessions() as session:
            made = await session.get(WebhookSecret, user_id)
            assert made is not None
            return made


def _unexpired(row: WebhookSecret, now: datetime) -> datetime | None:
    """When the replaced secret stops signing, if it still signs at `now`."""
    expires = row.previous_expires_at
    return expires if row.previous_secret is not None and expires and now < expires else None
