"""The stages waiting in Temporal's task queue, as the read model counts them: what the
statistics show a user and what the metrics show an operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.models import Generation, Stage


@dataclass
class Backlog:
    """Stages waiting in Temporal's task queue for a free worker (or sandbox) slot."""

    queued: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    oldest_queued_at: datetime | None = None


async def backlog_of(session: AsyncSession, user_id: str | None = None) -> Backlog:
    """The queued stages (of one user, or of everyone), from the partial index
    `ix_generation_stages_queued`."""
    query = (
        select(Stage.name, func.count(), func.min(Stage.queued_at))
        .where(Stage.status == "pending", Stage.queued_at.is_not(None))
        .group_by(Stage.name)
    )
    if user_id is not None:
        query = query.join(Generation, Generation.id == Stage.generation_id).where(
            Generation.user_id == user_id
        )
    backlog = Backlog()
    for name, count, oldest in await session.execute(query):
        backlog.by_stage[name] = int(count)
        backlog.queued += int(count)
        if oldest is not None and (
            backlog.oldest_queued_at is None or oldest < backlog.oldest_queued_at
        ):
            backlog.oldest_queued_at = oldest
    return backlog
