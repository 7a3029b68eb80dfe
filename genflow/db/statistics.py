"""A user's generation statistics, computed in SQL (percentiles too on PostgreSQL;
SQLite has no percentile function, so there the sorted durations are read instead)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.models import Generation, Stage
from genflow.db.repository import dialect_of
from genflow.domain import TERMINAL_STATUSES, Status

DAYS = 30


@dataclass
class StageStatistics:
    average_ms: float | None
    p95_ms: float | None


@dataclass
class DayCounts:
    date: date
    created: int = 0
    completed: int = 0
    failed: int = 0


@dataclass
class Statistics:
    total: int
    by_status: dict[str, int]
    success_rate: float | None
    average_quality: float | None
    duration_p50_ms: float | None
    duration_p95_ms: float | None
    stages: dict[str, StageStatistics]
    daily: list[DayCounts] = field(default_factory=list)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class StatisticsRepository:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_maker
        self._postgres = dialect_of(session_maker) == "postgresql"

    async def for_user(self, user_id: str, today: date | None = None) -> Statistics:
        today = today or datetime.now(UTC).date()
        first_day = today - timedelta(days=DAYS - 1)
        since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
        mine = Generation.user_id == user_id
        completed = Generation.status == Status.COMPLETED
        async with self._sessions() as session:
            by_status = {
                str(status): int(count)
                for status, count in await session.execute(
                    select(Generation.status, func.count()).where(mine).group_by(Generation.status)
                )
            }
            average_quality = await session.scalar(
                select(func.avg(Generation.quality_score)).where(mine, completed)
            )
            p50, p95 = await self._run_percentiles(session, mine, completed)
            stages = await self._stage_statistics(session, user_id)
            daily = await self._daily(session, mine, since, first_day)
        terminal = sum(by_status.get(status, 0) for status in TERMINAL_STATUSES)
        return Statistics(
            total=sum(by_status.values()),
            by_status=by_status,
            success_rate=round(by_status.get(Status.COMPLETED, 0) / terminal, 4)
            if terminal
            else None,
            average_quality=round(float(average_quality), 2)
            if average_quality is not None
            else None,
            duration_p50_ms=p50,
            duration_p95_ms=p95,
            stages=stages,
            daily=daily,
        )

    async def _run_percentiles(
        self, session: AsyncSession, *conditions: Any
    ) -> tuple[float | None, float | None]:
        if self._postgres:
            run_ms = func.extract("epoch", Generation.completed_at - Generation.started_at) * 1000
            row = (
                await session.execute(
                    select(
                        func.percentile_cont(0.5).within_group(run_ms),
                        func.percentile_cont(0.95).within_group(run_ms),
                    ).where(*conditions, Generation.started_at.is_not(None))
                )
            ).one()
            return _round(row[0]), _round(row[1])
        rows = await session.execute(
            select(Generation.started_at, Generation.completed_at).where(
                *conditions,
                Generation.started_at.is_not(None),
                Generation.completed_at.is_not(None),
            )
        )
        durations = sorted(
            (end - start).total_seconds() * 1000 for start, end in rows if start and end
        )
        return _round(percentile(durations, 0.5)), _round(percentile(durations, 0.95))

    async def _stage_statistics(
        self, session: AsyncSession, user_id: str
    ) -> dict[str, StageStatistics]:
        joined = (
            select(Stage.name, Stage.duration_ms)
            .join(Generation, Generation.id == Stage.generation_id)
            .where(Generation.user_id == user_id, Stage.duration_ms.is_not(None))
        )
        if self._postgres:
            durations = joined.subquery()
            rows = await session.execute(
                select(
                    durations.c.name,
                    func.avg(durations.c.duration_ms),
                    func.percentile_cont(0.95).within_group(durations.c.duration_ms),
                ).group_by(durations.c.name)
            )
            return {
                name: StageStatistics(_round(average), _round(p95)) for name, average, p95 in rows
            }
        by_stage: dict[str, list[float]] = {}
        for name, duration in await session.execute(joined):
            by_stage.setdefault(name, []).append(float(duration or 0))
        return {
            name: StageStatistics(
                _round(sum(values) / len(values)), _round(percentile(sorted(values), 0.95))
            )
            for name, values in by_stage.items()
        }

    async def _daily(
        self, session: AsyncSession, mine: Any, since: datetime, first_day: date
    ) -> list[DayCounts]:
        days = {
            first_day + timedelta(days=i): DayCounts(first_day + timedelta(days=i))
            for i in range(DAYS)
        }
        created_day = self._date_of(Generation.created_at)
        for day, count in await session.execute(
            select(created_day, func.count())
            .where(mine, Generation.created_at >= since)
            .group_by(created_day)
        ):
            if _day(day) in days:
                days[_day(day)].created = int(count)
        completed_day = self._date_of(Generation.completed_at)
        for day, status, count in await session.execute(
            select(completed_day, Generation.status, func.count())
            .where(
                mine,
                Generation.completed_at >= since,
                Generation.status.in_([Status.COMPLETED, Status.FAILED]),
            )
            .group_by(completed_day, Generation.status)
        ):
            if _day(day) in days:
                setattr(days[_day(day)], str(status), int(count))
        return list(days.values())

    def _date_of(self, column: Any) -> Any:
        if self._postgres:
            return cast(func.timezone("UTC", column), Date)
        return func.date(column)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)
