"""What the retention schedule deletes: records past their purpose, and (only when an
operator sets a retention) finished generations past it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.models import DeletedGeneration, Generation, IdempotencyKey, StoredInput
from genflow.domain import TERMINAL_STATUSES

BATCH = 1000  # finished generations deleted per transaction


@dataclass(frozen=True)
class Cutoffs:
    idempotency_keys: datetime  # a key answers retries for its TTL only
    tombstones: datetime  # a tombstone outlives any workflow that could still start
    stored_inputs: datetime  # an input whose workflow never started is an orphan
    generations: datetime | None = None  # None: finished generations are kept


class RetentionRepository:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_maker

    async def purge(self, cutoffs: Cutoffs) -> dict[str, int]:
        """Delete everything older than its cutoff; how many of each were deleted."""
        purged = {
            "idempotency_keys": await self._delete(
                delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoffs.idempotency_keys)
            ),
            "tombstones": await self._delete(
                delete(DeletedGeneration).where(DeletedGeneration.deleted_at < cutoffs.tombstones)
            ),
            "stored_inputs": await self._delete(
                delete(StoredInput).where(StoredInput.created_at < cutoffs.stored_inputs)
            ),
            "generations": 0,
        }
        if cutoffs.generations is not None:
            while True:  # in batches: stages, events and artifacts go by cascade
                batch = (
                    select(Generation.id)
                    .where(
                        Generation.status.in_(TERMINAL_STATUSES),
                        Generation.completed_at < cutoffs.generations,
                    )
                    .limit(BATCH)
                    .scalar_subquery()
                )
                deleted = await self._delete(delete(Generation).where(Generation.id.in_(batch)))
                purged["generations"] += deleted
                if deleted < BATCH:
                    break
        return purged

    async def _delete(self, statement: object) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(statement)  # type: ignore[call-overload]
            return int(result.rowcount) if isinstance(result, CursorResult) else 0
