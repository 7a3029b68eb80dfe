"""A user's generation statistics as clients see them."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from genflow.db.usage import Used, day_of, next_midnight


class StageStatisticsOut(BaseModel):
    average_ms: float | None
    p95_ms: float | None


class DayCountsOut(BaseModel):
    date: date
    created: int
    completed: int
    failed: int
    tokens_in: int = Field(default=0, description="Model tokens your generations read")
    tokens_out: int = Field(default=0, description="Model tokens your generations wrote")
    sandbox_cpu_seconds: float = Field(default=0.0, description="CPU time of your reviews")


class QuotaOut(BaseModel):
    tokens_used_today: int = Field(description="Model tokens, in and out, this UTC day")
    daily_token_quota: int | None = Field(description="null: no quota")
    resets_at: datetime = Field(description="The next midnight UTC")


class QueueLatencyOut(BaseModel):
    p50_ms: float | None
    p95_ms: float | None
    samples: int


class BacklogOut(BaseModel):
    queued: int = Field(description="Your stages waiting in the task queue for a worker")
    by_stage: dict[str, int]
    oldest_queued_at: datetime | None


class StatisticsOut(BaseModel):
    total: int
    by_status: dict[str, int]
    success_rate: float | None = Field(description="completed / (completed + failed + cancelled)")
    average_quality: float | None = Field(description="Mean quality score of completed ones")
    duration_p50_ms: float | None = Field(description="Run time (start to end) of completed ones")
    duration_p95_ms: float | None
    stages: dict[str, StageStatisticsOut]
    daily: list[DayCountsOut] = Field(description="The last 30 days, oldest first (UTC)")
    backlog: BacklogOut
    schedule_to_start: dict[str, QueueLatencyOut] = Field(
        description="Per stage: how long attempts waited in the queue (last 24 hours)"
    )
    quota: QuotaOut | None = Field(default=None, description="Your daily token quota")


def with_usage(
    out: StatisticsOut, usage: dict[str, Used], now: datetime, quota: int
) -> StatisticsOut:
    """The statistics with each day's usage, and today's quota beside them."""
    for day in out.daily:
        used = usage.get(day.date.isoformat())
        if used is not None:
            day.tokens_in, day.tokens_out = used.tokens_in, used.tokens_out
            day.sandbox_cpu_seconds = used.sandbox_cpu_seconds
    today = usage.get(day_of(now))
    out.quota = QuotaOut(
        tokens_used_today=today.tokens if today else 0,
        daily_token_quota=quota or None,
        resets_at=next_midnight(now),
    )
    return out
