"""The local PostgreSQL the benchmarks use (127.0.0.1:5432, user `postgres`, trust auth,
admin database `test`): database URLs, and creating and dropping databases."""

from __future__ import annotations

import uuid

import asyncpg

PG_HOST, PG_PORT, PG_ADMIN_DB = "127.0.0.1", 5432, "test"


def pg_url(name: str, port: int = PG_PORT) -> str:
    """The plain URL of database `name` (asyncpg's DSN; genflow picks its driver)."""
    return f"postgresql://postgres@{PG_HOST}:{port}/{name}"


def async_url(url: str) -> str:
    """`url` with SQLAlchemy's async driver (asyncpg, aiosqlite) named."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


async def connect(name: str = PG_ADMIN_DB) -> asyncpg.Connection:
    """A connection to database `name` (the admin database by default)."""
    return await asyncpg.connect(pg_url(name))


async def recreate_database(name: str) -> None:
    """Database `name`, empty (dropped first if it exists)."""
    admin = await connect()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def create_database(prefix: str = "genflow_bench") -> str:
    """A fresh database with a random name that starts with `prefix`; returns the name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await connect()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def drop_database(name: str) -> None:
    admin = await connect()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
