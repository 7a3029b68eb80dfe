"""A user's generation statistics, computed in SQL (percentiles too on PostgreSQL;
SQLite has no percentile function, so there the sorted durations are read instead)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.backlog import Backlog, backlog_of
from genflow.db.models import Generation, Stage
from genflow.db.repository import dialect_of
from genflow.domain import STAGES, TERMINAL_STATUSES, Status

DAYS = 30
# The window of the schedule-to-start figures: recent enough to tell when to add workers.
QUEUE_WINDOW = timedelta(hours=24)


@dataclass
class StageStatistics:
    average_ms: float | None
    p95_ms: float | None


@dataclass
class QueueLatency:
    p50_ms: float | None
    p95_ms: float | None
    samples: int


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
    backlog: Backlog = field(default_factory=Backlog)
    schedule_to_start: dict[str, QueueLatency] = field(default_factory=dict)


Totals = tuple[
    dict[str, int], float | None, float | None, float | None, dict[str, "StageStatistics"]
]


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
        """Everything in one pass over the user's rows of the covering index
        `ix_generations_user_stats` (PostgreSQL), or over the same columns (SQLite)."""
        today = today or datetime.now(UTC).date()
        first_day = today - timedelta(days=DAYS - 1)
        since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
        # On PostgreSQL in a transaction of its own (reads are autocommit otherwise),
        # for SET LOCAL to hold.
        async with self._sessions.begin() if self._postgres else self._sessions() as session:
            if self._postgres:
                # Percentile sorts of ~100k values stay in memory.
                await session.execute(text("SET LOCAL work_mem = '64MB'"))
                totals = await self._totals_in_sql(session, user_id)
            else:
                totals = await self._totals_in_python(session, user_id)
            daily = await self._daily(session, Generation.user_id == user_id, since, first_day)
            backlog = await backlog_of(session, user_id)
            queue_latency = await self._schedule_to_start(session, user_id)
        by_status, average_quality, p50, p95, stages = totals
        terminal = sum(by_status.get(status, 0) for status in TERMINAL_STATUSES)
        completed = by_status.get(Status.COMPLETED, 0)
        return Statistics(
            total=sum(by_status.values()),
            by_status=by_status,
            success_rate=round(completed / terminal, 4) if terminal else None,
            average_quality=_round(average_quality, 2),
            duration_p50_ms=p50,
            duration_p95_ms=p95,
            stages=stages,
            daily=daily,
            backlog=backlog,
            schedule_to_start=queue_latency,
        )

    async def _schedule_to_start(
        self, session: AsyncSession, user_id: str
    ) -> dict[str, QueueLatency]:
        """p50/p95 of the time stage attempts waited in the queue, over QUEUE_WINDOW."""
        mine = (
            Stage.queue_ms.is_not(None),
            Generation.user_id == user_id,
            Generation.created_at >= datetime.now(UTC) - QUEUE_WINDOW,
        )
        joined = select().select_from(Stage).join(Generation, Generation.id == Stage.generation_id)
        result: dict[str, QueueLatency] = {}
        if self._postgres:
            rows = await session.execute(
                joined.add_columns(
                    Stage.name,
                    func.percentile_cont(0.5).within_group(Stage.queue_ms),
                    func.percentile_cont(0.95).within_group(Stage.queue_ms),
                    func.count(),
                )
                .where(*mine)
                .group_by(Stage.name)
            )
            for name, p50, p95, count in rows:
                result[name] = QueueLatency(_round(p50), _round(p95), int(count))
            return result
        values: dict[str, list[float]] = {}
        for name, queue_ms in await session.execute(
            joined.add_columns(Stage.name, Stage.queue_ms).where(*mine)
        ):
            values.setdefault(name, []).append(float(queue_ms))
        for name, samples in values.items():
            samples.sort()
            result[name] = QueueLatency(
                _round(percentile(samples, 0.5)), _round(percentile(samples, 0.95)), len(samples)
            )
        return result

    async def _totals_in_sql(self, session: AsyncSession, user_id: str) -> Totals:
        completed = Generation.status == Status.COMPLETED
        columns: list[Any] = [
            func.avg(Generation.quality_score).filter(completed),
            func.percentile_cont(0.5).within_group(Generation.run_ms).filter(completed),
            func.percentile_cont(0.95).within_group(Generation.run_ms).filter(completed),
        ]
        for stage in STAGES:
            duration = getattr(Generation, f"{stage}_ms")
            columns += [func.avg(duration), func.percentile_cont(0.95).within_group(duration)]
        columns += [func.count().filter(Generation.status == status) for status in Status]
        row = (await session.execute(select(*columns).where(Generation.user_id == user_id))).one()
        counts = row[3 + 2 * len(STAGES) :]
        by_status = {str(status): int(n) for status, n in zip(Status, counts, strict=True) if n}
        stages = {
            str(stage): StageStatistics(_round(row[3 + 2 * i]), _round(row[4 + 2 * i]))
            for i, stage in enumerate(STAGES)
            if row[3 + 2 * i] is not None
        }
        return by_status, row[0], _round(row[1]), _round(row[2]), stages

    async def _totals_in_python(self, session: AsyncSession, user_id: str) -> Totals:
        # SQLite has no percentile function: read the few columns and compute here.
        stage_columns = [getattr(Generation, f"{stage}_ms") for stage in STAGES]
        rows = (
            await session.execute(
                select(
                    Generation.status, Generation.quality_score, Generation.run_ms, *stage_columns
                ).where(Generation.user_id == user_id)
            )
        ).all()
        by_status: dict[str, int] = {}
        for row in rows:
            by_status[row[0]] = by_status.get(row[0], 0) + 1
        completed = [row for row in rows if row[0] == Status.COMPLETED]
        qualities = [row[1] for row in completed if row[1] is not None]
        runs = sorted(float(row[2]) for row in completed if row[2] is not None)
        stages: dict[str, StageStatistics] = {}
        for i, stage in enumerate(STAGES):
            values = sorted(float(row[3 + i]) for row in rows if row[3 + i] is not None)
            if values:
                stages[str(stage)] = StageStatistics(
                    _round(sum(values) / len(values)), _round(percentile(values, 0.95))
                )
        average = sum(qualities) / len(qualities) if qualities else None
        return (
            by_status,
            average,
            _round(percentile(runs, 0.5)),
            _round(percentile(runs, 0.95)),
            stages,
        )

    async def _daily(
        self, session: AsyncSession, mine: Any, since: datetime, first_day: date
    ) -> list[DayCounts]:
        days = {
            first_day + timedelta(days=i): DayCounts(first_day + timedelta(days=i))
            for i in range(DAYS)
        }
        created_day = self._date_of(Generation.created_at).label("created_day")
        completed_day = self._date_of(Generation.completed_at).label("completed_day")
        if self._postgres:
            # One scan for both countings.
            rows = await session.execute(
                select(created_day, completed_day, Generation.status, func.count())
                .where(
                    mine,
                    or_(Generation.created_at >= since, Generation.completed_at >= since),
                )
                .group_by(
                    func.grouping_sets(
                        tuple_(created_day), tuple_(completed_day, Generation.status)
                    )
                )
            )
            for created, completed, status, count in rows:
                if created is not None and _day(created) in days:
                    days[_day(created)].created += int(count)
                elif (
                    completed is not None
                    and status in (Status.COMPLETED, Status.FAILED)
                    and _day(completed) in days
                ):
                    setattr(days[_day(completed)], str(status), int(count))
            return list(days.values())
        for day, count in await session.execute(
            select(created_day, func.count())
            .where(mine, Generation.created_at >= since)
            .group_by(created_day)
        ):
            if _day(day) in days:
                days[_day(day)].created = int(count)
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


def _round(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)
