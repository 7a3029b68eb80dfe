"""Engine, session maker and migrations. Built once per process and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransactionOrigin
from sqlalchemy.pool import ConnectionPoolEntry

from genflow.db.sqlite_connections import inline_sqlite

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


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` (sqlite+aiosqlite or postgresql+asyncpg)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("async_creator", inline_sqlite(path or ":memory:"))
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
