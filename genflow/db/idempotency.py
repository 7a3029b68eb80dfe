"""The `Idempotency-Key`s users sent with their creates: which generation each key
created, claimed once per user and key until it expires."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from genflow.db.base import SessionOwner
from genflow.db.models import IdempotencyKey, utcnow


class IdempotencyKeys(SessionOwner):
    async def get_idempotency_key(self, user_id: str, key: str) -> IdempotencyKey | None:
        async with self._sessions() as session:
            return await session.get(IdempotencyKey, (user_id, key))

    async def claim_idempotency_key(
        self, user_id: str, key: str, request_hash: str, generation_id: uuid.UUID, ttl: timedelta
    ) -> IdempotencyKey | None:
        """Record `key` for a new generation. Returns None when this call claimed it,
        else the existing record (an expired one is replaced)."""
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(IdempotencyKey, (user_id, key))
                if existing is not None and existing.created_at > utcnow() - ttl:
                    return existing
                if existing is not None:
                    await session.delete(existing)
                    await session.flush()
                session.add(
                    IdempotencyKey(
                        user_id=user_id,
                        key=key,
                        request_hash=request_hash,
                        generation_id=generation_id,
                        created_at=utcnow(),
                    )
                )
            return None
        except IntegrityError:
            async with self._sessions() as session:
                return await session.get(IdempotencyKey, (user_id, key))
