"""What every read-model repository holds: the session maker built once per process."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def dialect_of(session_maker: async_sessionmaker[AsyncSession]) -> str:
    bind = session_maker.kw["bind"]
    return str(bind.dialect.name)


class SessionOwner:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_maker
        self._dialect = dialect_of(session_maker)

    @property
    def session_maker(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions
