"""One generation's status, read cheaply: requests that wait for a generation to move
(`Prefer: wait`, approve and reject) poll it. Each read takes a pooled connection for
one indexed primary-key lookup and gives it back; none is held while waiting."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.models import Generation


async def status_of(
    sessions: async_sessionmaker[AsyncSession], generation_id: uuid.UUID
) -> str | None:
    """The generation's status; None if it does not exist (or was deleted)."""
    async with sessions() as session:
        status = await session.scalar(
            select(Generation.status).where(Generation.id == generation_id)
        )
    return None if status is None else str(status)
