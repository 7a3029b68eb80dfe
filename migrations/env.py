"""Alembic environment: runs on a connection handed in by genflow, or on DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy import Connection

from genflow.db.engine import make_engine
from genflow.db.models import Base
from genflow.settings import Settings

target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    engine = make_engine(Settings().resolved_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    asyncio.run(run_from_settings())
