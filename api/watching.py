"""Requests that stay open while a generation moves: event streams and `Prefer: wait`.

Two things keep them from crowding out everyone else:

- **Caps per user.** Each user holds at most `max_streams_per_user` open streams and
  `max_waits_per_user` waiting requests in this API process; past a cap the answer is 429
  with `Retry-After`, before anything is created or read. (With several API replicas,
  each applies the caps to the requests it serves.)
- **One poller per generation.** However many clients watch a generation, one task reads
  its status and last event id every `watch_poll_seconds` and wakes the watchers when either
  changes; a watcher then reads what it needs once. While nothing happens, the database
  sees one small read per watched generation per interval, not one per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.models import Generation

from .problems import ProblemError

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Mark:
    """What the poller reads: enough to tell that a generation moved."""

    status: str | None  # None: the generation is gone
    last_event_id: int = 0


class OverCap(ProblemError):
    def __init__(self, kind: str, cap: int) -> None:
        super().__init__(
            429,
            f"You already hold {cap} open {kind}, the most one user may hold at once; close "
            f"one, or retry after {RETRY_AFTER_SECONDS} s.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


@dataclass
class _Watched:
    """One generation's poller and the watchers waiting on it."""

    mark: Mark | None = None
    watchers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Watching:
    """The caps and the shared pollers of one API process (in the app's state)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        poll_seconds: float,
        max_streams: int,
        max_waits: int,
    ) -> None:
        self._sessions = sessions
        self._poll_seconds = poll_seconds
        self._caps = {"streams": max_streams, "waits": max_waits}
        self._held: Counter[tuple[str, str]] = Counter()
        self._watched: dict[uuid.UUID, _Watched] = {}
        self.reads = 0  # poller reads of the database, for tests and metrics

    # -- caps ---------------------------------------------------------------------

    def take(self, user_id: str, kind: str) -> Slot:
        """A held `kind` ("streams" or "waits") for `user_id`; OverCap past the cap.
        Release it with `Slot.release()` (idempotent)."""
        cap = self._caps[kind]
        if self._held[(user_id, kind)] >= cap:
            raise OverCap(kind, cap)
        self._held[(user_id, kind)] += 1
        return Slot(self, user_id, kind)

    def held(self, user_id: str, kind: str) -> int:
        return self._held[(user_id, kind)]

    def total(self, kind: str) -> int:
        """Held by all users."""
        return sum(count for (_, held_kind), count in self._held.items() if held_kind == kind)

    def _give_back(self, user_id: str, kind: str) -> None:
        self._held[(user_id, kind)] -= 1
        if self._held[(user_id, kind)] <= 0:
            del self._held[(user_id, kind)]

    # -- shared polling -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def watch(self, generation_id: uuid.UUID) -> AsyncIterator[Watcher]:
        """A watcher of `generation_id`, sharing the generation's one poller."""
        watched = self._watched.get(generation_id)
        if watched is None:
            mark = await self._read(generation_id)
            # Another watcher may have started the poller while this one read.
            watched = self._watched.get(generation_id)
            if watched is None:
                watched = self._watched[generation_id] = _Watched(mark=mark)
                watched.task = asyncio.create_task(self._poll(generation_id, watched))
        watched.watchers += 1
        try:
            yield Watcher(watched)
        finally:
            watched.watchers -= 1
            if watched.watchers == 0:
                if self._watched.get(generation_id) is watched:
                    del self._watched[generation_id]
                if watched.task is not None:
                    watched.task.cancel()

    @property
    def pollers(self) -> int:
        return len(self._watched)

    async def _poll(self, generation_id: uuid.UUID, watched: _Watched) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                mark = await self._read(generation_id)
            except Exception:  # an outage: the watchers keep waiting, the next read tells
                continue
            if mark != watched.mark:
                watched.mark = mark
                watched.changed.set()
                watched.changed = asyncio.Event()

    async def _read(self, generation_id: uuid.UUID) -> Mark:
        # Shielded: a poller cancelled mid-read (its last watcher left) must still close
        # its session. Cancelled inside it, the connection could be left in its
        # transaction, which on SQLite (BEGIN IMMEDIATE) holds the write lock until
        # garbage collection: every writer then waits (seen as a 30 s cancel in CI).
        self.reads += 1
        return await asyncio.shield(self._read_now(generation_id))

    async def _read_now(self, generation_id: uuid.UUID) -> Mark:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Generation.status, Generation.last_event_id).where(
                        Generation.id == generation_id
                    )
                )
            ).first()
        return Mark(None) if row is None else Mark(str(row[0]), int(row[1] or 0))


@dataclass
class Slot:
    _watching: Watching
    user_id: str
    kind: str
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._watching._give_back(self.user_id, self.kind)


class Watcher:
    """One client's view of a watched generation: the marks it has seen."""

    def __init__(self, watched: _Watched) -> None:
        self._watched = watched
        self._seen = watched.mark

    @property
    def mark(self) -> Mark:
        assert self._watched.mark is not None
        return self._watched.mark

    async def moved(self, timeout: float) -> bool:
        """Whether the generation moved since this watcher last asked, waiting for it
        at most `timeout` seconds."""
        if self._watched.mark == self._seen:
            event = self._watched.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        moved = self._watched.mark != self._seen
        self._seen = self._watched.mark
        return moved
