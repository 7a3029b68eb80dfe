"""Engine, session maker and migrations. Built once per process and passed in."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransactionOrigin
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # The API and the worker share the file. A writer waits its turn for the lock
    # instead of failing with "database is locked", retried from the event loop
    # (InlineSQLite) rather than inside SQLite, which would block the loop.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# The execution option that marks a connection whose transaction only reads.
READ_ONLY = "genflow_read_only"
_READ_VIEWS: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with
    # SQLITE_BUSY when another process wrote in between; a writer takes the write
    # lock up front and waits its turn instead (SQLAlchemy's documented recipe). A
    # reader begins deferred: in WAL mode it never waits for a writer.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _read_only_view(engine: Engine) -> Engine:
    """The engine for transactions that only read. On PostgreSQL they run without a
    transaction of their own (autocommit): at READ COMMITTED each statement sees its
    own snapshot either way, and a read then costs no BEGIN and ROLLBACK round trips."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(**{READ_ONLY: True}, isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{READ_ONLY: True})


def _read_view(engine: Engine) -> Engine:
    """`_read_only_view` of `engine`, made once per engine."""
    view = _READ_VIEWS.get(engine)
    if view is None:
        view = _READ_VIEWS[engine] = _read_only_view(engine)
    return view


_ASYNC_READ_VIEWS: WeakKeyDictionary[AsyncEngine, AsyncEngine] = WeakKeyDictionary()


def reader(sessions: async_sessionmaker[Any]) -> AsyncEngine:
    """The read-only view of the sessions' engine, for a hot read that needs no ORM
    session: a connection from it reads as `ReadModelSession` does."""
    engine: AsyncEngine = sessions.kw["bind"]
    view = _ASYNC_READ_VIEWS.get(engine)
    if view is None:
        view = _ASYNC_READ_VIEWS[engine] = AsyncEngine(_read_view(engine.sync_engine))
    return view


class ReadModelSession(Session):
    """A session whose transaction is read-only unless it was begun explicitly.

    The repositories write in `async with sessions.begin()` and read in
    `async with sessions()`, whose transaction begins by itself on the first query. The
    latter runs on a read-only view of the engine: on SQLite a deferred transaction, so
    a GET never queues for the write lock behind the worker's transactions; on
    PostgreSQL no transaction at all."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        bind = super().get_bind(*args, **kwargs)
        # No transaction yet: the query about to run begins one by itself.
        transaction = self._transaction
        if isinstance(bind, Engine) and (
            transaction is None or transaction.origin is SessionTransactionOrigin.AUTOBEGIN
        ):
            return _read_view(bind)
        return bind


class InlineSQLite(aiosqlite.Connection):
    """An aiosqlite connection that runs SQLite's calls on the event loop's own thread;
    only connect, close and PRAGMAs go to the connection's thread, as aiosqlite does.

    Every statement is short: a read in WAL mode never waits, and a write runs inside a
    transaction that holds the write lock. The lock itself is never waited for inside
    SQLite (busy timeout 0, see `_sqlite_pragmas`): a writer first takes its process's
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


def _inline_sqlite(path: str) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """The `async_creator` of an SQLite engine: `InlineSQLite` connections to `path`."""

    def connect() -> sqlite3.Connection:
        # Used from the event loop's thread and from the connection's own.
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    async def create() -> aiosqlite.Connection:
        connection = InlineSQLite(connect, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        return await connection

    return create


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` (sqlite+aiosqlite or postgresql+asyncpg)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("async_creator", _inline_sqlite(path or ":memory:"))
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # Always plan with the actual parameters: a cached generic plan misjudges how many
    # rows one user has and picks a slow index for filtered lists.
    kwargs.setdefault("connect_args", {"server_settings": {"plan_cache_mode": "force_custom_plan"}})
    # Room for a burst of creates without opening and closing connections: the pool
    # closes a connection beyond pool_size when it is returned.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


def _drop_closed(
    dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry, _proxy: Any
) -> None:
    """Hand out no pooled connection that the server closed (a restart, an
    administrator's terminate): asyncpg noticed when the server said so or the socket
    closed, so checking costs no round trip, unlike `pool_pre_ping`'s (a query on every
    checkout, a tenth of a GET's CPU). The pool then connects anew. A connection that
    dies silently still fails its first statement: an outage answer, and the pool is
    refreshed."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this connection")


def make_session_maker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=ReadModelSession)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the read model to the newest Alembic revision."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)
