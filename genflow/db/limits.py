"""The creates-per-minute window of one user, as the 429 check and the `RateLimit-*`
response fields both read it.

A create counts for a minute whether or not its generation still exists: a deleted
generation's tombstone keeps its owner and creation time, so deleting generations
never frees quota. Both counts are range scans of a `(user_id, created_at)` index over
the last minute, so their cost is bounded by the limit itself (a user cannot have more
creates in the window than the limit lets through, plus the few of a race).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Subquery, bindparam, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.engine import reader
from genflow.db.models import DeletedGeneration, Generation
from genflow.db.usage import UsageDay, day_of
from genflow.domain import ACTIVE_STATUSES

WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class CreateWindow:
    """The creates of one user within the last minute, deleted ones included."""

    count: int
    oldest: datetime | None

    def seconds_until_a_slot_frees(self, now: datetime) -> int:
        """Whole seconds until the oldest create leaves the window (0: none counts)."""
        if self.oldest is None:
            return 0
        return max(0, math.ceil((self.oldest + WINDOW - now).total_seconds()))


@dataclass(frozen=True)
class Standing:
    """What a new generation's admission checks, read in one query: the user's active
    generations, their create window, and the model tokens they used today."""

    active: int
    window: CreateWindow
    tokens_today: int


def _standing_query() -> Select[Any]:
    created = _created_since(bindparam("user_id"), bindparam("since"))
    active = (
        select(func.count())
        .select_from(Generation)
        .where(Generation.user_id == bindparam("user_id"), Generation.status.in_(ACTIVE_STATUSES))
        .scalar_subquery()
    )
    tokens = (
        select(UsageDay.tokens_in + UsageDay.tokens_out)
        .where(UsageDay.user_id == bindparam("user_id"), UsageDay.day == bindparam("day"))
        .scalar_subquery()
    )
    return select(func.count(), func.min(created.c.created_at), active, tokens).select_from(created)


async def standing_of(
    sessions: async_sessionmaker[AsyncSession], user_id: str, now: datetime
) -> Standing:
    """The user's `Standing` at `now`, in one statement (one round trip)."""
    values = {"user_id": user_id, "since": now - WINDOW, "day": day_of(now)}
    async with reader(sessions).connect() as connection:
        count, oldest, active, used = (await connection.execute(_STANDING, values)).one()
    return Standing(int(active or 0), _window(count, oldest), int(used or 0))


async def creates_since(
    sessions: async_sessionmaker[AsyncSession], user_id: str, since: datetime
) -> CreateWindow:
    """How many generations `user_id` created after `since` (deleted ones included),
    and when the oldest of them was created."""
    created = _created_since(user_id, since)
    async with sessions() as session:
        count, oldest = (
            await session.execute(select(func.count(), func.min(created.c.created_at)))
        ).one()
    return _window(count, oldest)


def _created_since(user_id: Any, since: Any) -> Subquery:
    return union_all(
        select(Generation.created_at.label("created_at")).where(
            Generation.user_id == user_id, Generation.created_at > since
        ),
        select(DeletedGeneration.created_at.label("created_at")).where(
            DeletedGeneration.user_id == user_id, DeletedGeneration.created_at > since
        ),
    ).subquery()


def _window(count: int, oldest: datetime | str | None) -> CreateWindow:
    if isinstance(oldest, str):  # SQLite returns min() of a datetime as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return CreateWindow(int(count), oldest)


# Built once (its cache key too): every create runs it.
_STANDING = _standing_query()
