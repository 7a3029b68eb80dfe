"""What each user used, per UTC day: model tokens in and out and the review's sandbox
CPU time. Added once per completed stage, in the stage's own transaction; read for the
daily token quota and the statistics."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from genflow.db.models import Base, Generation


class UsageDay(Base):
    __tablename__ = "usage_days"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    sandbox_cpu_ms: Mapped[int] = mapped_column(BigInteger, default=0)


@dataclass(frozen=True)
class Used:
    day: str
    tokens_in: int = 0
    tokens_out: int = 0
    sandbox_cpu_seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def next_midnight(moment: datetime) -> datetime:
    start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(days=1)


async def add_usage(
    session: AsyncSession,
    user_id: str,
    moment: datetime,
    tokens: tuple[int, int],
    sandbox_cpu_ms: int,
) -> None:
    """Add to the user's row of the day, creating it (one statement, no read)."""
    values = {
        "user_id": user_id,
        "day": day_of(moment),
        "tokens_in": tokens[0],
        "tokens_out": tokens[1],
        "sandbox_cpu_ms": sandbox_cpu_ms,
    }
    table = UsageDay.__table__
    dialect = session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(table).values(**values)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["user_id", "day"],
            set_={
                "tokens_in": table.c.tokens_in + tokens[0],
                "tokens_out": table.c.tokens_out + tokens[1],
                "sandbox_cpu_ms": table.c.sandbox_cpu_ms + sandbox_cpu_ms,
            },
        )
    )


class UsageRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def days(self, user_id: str, first: datetime, last: datetime) -> dict[str, Used]:
        """The user's usage from the day of `first` to the day of `last`, by day."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(UsageDay).where(
                    UsageDay.user_id == user_id,
                    UsageDay.day >= day_of(first),
                    UsageDay.day <= day_of(last),
                )
            )
            return {
                row.day: Used(row.day, row.tokens_in, row.tokens_out, row.sandbox_cpu_ms / 1000)
                for row in rows
            }

    async def today(self, user_id: str, now: datetime) -> Used:
        return (await self.days(user_id, now, now)).get(day_of(now), Used(day_of(now)))


async def record_spent(
    sessions: async_sessionmaker[AsyncSession], generation_id: uuid.UUID, tokens: tuple[int, int]
) -> None:
    """Count tokens a stage spent before it failed (its budget ran out mid-stage) on the
    generation and on its user's day."""
    async with sessions.begin() as session:
        generation = await session.get(Generation, generation_id, with_for_update=True)
        if generation is None:
            return
        metrics = dict(generation.metrics or {})
        metrics["tokens_in"] = int(metrics.get("tokens_in", 0)) + tokens[0]
        metrics["tokens_out"] = int(metrics.get("tokens_out", 0)) + tokens[1]
        generation.metrics = metrics
        await add_usage(session, generation.user_id, datetime.now(UTC), tokens, 0)
