"""Which errors mean "the read model is unreachable right now", as opposed to a bug or
bad data: the API answers them with 503 and Retry-After, and stage activities retry
them until the stage's deadline without using up the stage's attempts."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc

_DRIVER_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset, DNS, socket timeouts
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)


def is_database_outage(err: BaseException) -> bool:
    """True for a lost, refused or exhausted database connection (or SQLite's lock
    wait running out), also when SQLAlchemy wraps the driver's error."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, exc.OperationalError | exc.InterfaceError | exc.TimeoutError):
            return True
        if isinstance(current, _DRIVER_OUTAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def is_missing_schema(err: BaseException) -> bool:
    """True when the read model has no genflow tables (migrations never ran): SQLite's
    "no such table", PostgreSQL's undefined table."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, asyncpg.UndefinedTableError):
            return True
        if "no such table" in str(current) or "UndefinedTableError" in type(current).__name__:
            return True
        current = current.__cause__ or current.__context__
    return False
