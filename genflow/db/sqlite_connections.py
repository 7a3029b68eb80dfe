"""SQLite connections that run their statements on the event loop's own thread, and
wait for the database's write lock there (`InlineSQLite`)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite


class InlineSQLite(aiosqlite.Connection):
    """An aiosqlite connection that runs SQLite's calls on the event loop's own thread;
    only connect, close and PRAGMAs go to the connection's thread, as aiosqlite does.

    Every statement is short: a read in WAL mode never waits, and a write runs inside a
    transaction that holds the write lock. The lock itself is never waited for inside
    SQLite (busy timeout 0, see `engine._sqlite_pragmas`): a writer first takes its process's
    writer lock (an asyncio.Lock, so its process's writers take turns), then tries
    `BEGIN IMMEDIATE` inline and, while another process holds SQLite's lock, again after
    a short asyncio sleep (`_retry_while_busy`), so the loop never blocks on it. Then a
    write transaction runs from BEGIN to COMMIT without giving up the loop, and holds
    SQLite's single write lock for the time its statements take, not for as many turns
    of a busy loop as it has statements; and no call pays a thread hand-off. (With
    aiosqlite's thread per call, a burst's creates waited seconds for the lock.)"""

    _writing: asyncio.Lock | None = None  # this process's writer lock, while held

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None or not _inline(fn, args):
            if fn.__name__ == "close":
                self._done_writing()
            return await super()._execute(fn, *args, **kwargs)
        if args and isinstance(args[0], str) and args[0].lstrip().upper() == "BEGIN IMMEDIATE":
            return await self._begin_writing(fn, args, kwargs)
        try:
            return await _retry_while_busy(fn, args, kwargs)
        finally:
            if fn.__name__ in ("commit", "rollback"):
                self._done_writing()

    async def _begin_writing(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Take the write lock: first this process's (so one of its writers at a time
        competes with the other processes' for SQLite's, in turn), then SQLite's."""
        writers = _process_writers()
        try:
            await asyncio.wait_for(writers.acquire(), BUSY_SECONDS)
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (by this process)") from None
        try:
            result = await _retry_while_busy(fn, args, kwargs)
        except BaseException:
            writers.release()
            raise
        self._writing = writers
        return result

    def stop(self) -> asyncio.Future[Any] | None:
        self._done_writing()  # a connection dropped in a transaction (terminated)
        return super().stop()

    def _done_writing(self) -> None:
        if self._writing is not None:
            self._writing.release()
            self._writing = None


_WRITERS: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _process_writers() -> asyncio.Lock:
    """The writer lock of this process's event loop (one per loop; tests run several)."""
    loop = asyncio.get_running_loop()
    lock = _WRITERS.get(loop)
    if lock is None:
        for closed in [other for other in _WRITERS if other.is_closed()]:
            del _WRITERS[closed]
        lock = _WRITERS[loop] = asyncio.Lock()
    return lock


def _inline(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    """Every call of a cursor and of the connection, but the connection's close and
    PRAGMAs (set once, at connect)."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, sqlite3.Connection) and fn.__name__ not in _CONNECTION_CALLS:
        return False
    if not isinstance(owner, sqlite3.Connection | sqlite3.Cursor):
        return False
    return not (args and isinstance(args[0], str) and args[0].lstrip()[:6].upper() == "PRAGMA")


_CONNECTION_CALLS = frozenset({"execute", "cursor", "commit", "rollback"})
# How long a statement is retried while the database is locked: the busy timeout the
# connections had before they waited here instead.
BUSY_SECONDS = 30.0


async def _retry_while_busy(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """`fn(*args, **kwargs)`, run again after a short sleep while SQLite answers
    SQLITE_BUSY (another connection holds the lock), for up to BUSY_SECONDS. A statement
    that answered SQLITE_BUSY did nothing, so running it again is safe."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_SECONDS
    delay = 0.0005
    while True:
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or loop.time() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(0.002, delay * 2)


def inline_sqlite(path: str) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """The `async_creator` of an SQLite engine: `InlineSQLite` connections to `path`."""

    def connect() -> sqlite3.Connection:
        # Used from the event loop's thread and from the connection's own.
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    async def create() -> aiosqlite.Connection:
        connection = InlineSQLite(connect, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        return await connection

    return create
