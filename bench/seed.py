"""The database `genflow_bench` of `bench/api.py`: created, migrated and seeded with the
dataset of `bench/dataset.py` (about a minute for 1,000,000 generations), reused when a
previous run finished seeding it, and described for the measurements.

The secondary indexes are dropped during the bulk insert and rebuilt afterwards from
their own definitions, which is much faster than maintaining them row by row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from bench.dataset import (
    BENCH_ROWS,
    BENCH_USER,
    CREATE_PROMPT,
    DURATIONS_SQL,
    GENERATIONS_SQL,
    PROJECTS_SQL,
    STAGES_SQL,
    TOTAL,
)
from bench.measure import log
from bench.postgres import async_url, connect, pg_url
from genflow.db.engine import make_engine, migrate

DB_NAME = "genflow_bench"
URL = async_url(pg_url(DB_NAME))
# Written as the database's comment once seeding finished: a half-seeded database is
# never reused.
SEEDED_MARK = "genflow bench dataset v2"

SECONDARY_INDEXES_SQL = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
JOIN pg_class AS t ON t.oid = x.indrelid
WHERE t.relname = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""


async def dataset_ready() -> bool:
    """The bench database exists, finished seeding and has >= TOTAL generations."""
    admin = await connect()
    try:
        mark = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            DB_NAME,
        )
    finally:
        await admin.close()
    if mark != SEEDED_MARK:
        return False
    conn = await connect(DB_NAME)
    try:
        if await conn.fetchval("SELECT to_regclass('generations')") is None:
            return False
        return int(await conn.fetchval("SELECT count(*) FROM generations")) >= TOTAL
    finally:
        await conn.close()


async def run_migrations() -> None:
    engine = make_engine(URL)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def _timed(label: str, action: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await action
    log(f"  {label}: {time.perf_counter() - started:.1f} s")
    return result


async def _build_indexes(statements: list[str], parallel: int = 2) -> None:
    """CREATE INDEX statements, `parallel` at a time (GIN builds are single-threaded)."""
    queue = list(statements)

    async def builder() -> None:
        conn = await connect(DB_NAME)
        try:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            while queue:
                statement = queue.pop(0)
                await _timed(
                    statement.split(" USING ")[0].split(" ON ")[0].lower(), conn.execute(statement)
                )
        finally:
            await conn.close()

    await asyncio.gather(*(builder() for _ in range(parallel)))


async def seed() -> float:
    """Fill the (freshly migrated) bench database; returns the seconds it took."""
    started = time.perf_counter()
    conn = await connect(DB_NAME)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        # Rows are consistent by construction: skip the per-row foreign key triggers.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SELECT setseed(0.42)")
        tables = ["generations", "generation_stages"]
        indexes = await conn.fetch(SECONDARY_INDEXES_SQL, tables)
        for name, _ in indexes:
            await conn.execute(f'DROP INDEX "{name}"')
        stage_pk = await conn.fetchrow(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'generation_stages'::regclass AND contype = 'p'"
        )
        if stage_pk is not None:
            await conn.execute(f'ALTER TABLE generation_stages DROP CONSTRAINT "{stage_pk[0]}"')
        log(f"seeding {TOTAL:,} generations ({BENCH_ROWS:,} for {BENCH_USER})")
        await _timed("generations", conn.execute(GENERATIONS_SQL, BENCH_ROWS, TOTAL))
        await _timed("generation_stages", conn.execute(STAGES_SQL))
        await _timed("stage durations on generations", conn.execute(DURATIONS_SQL))
        await _timed("projects", conn.execute(PROJECTS_SQL))
        if stage_pk is not None:
            await _timed(
                "generation_stages primary key",
                conn.execute(
                    f'ALTER TABLE generation_stages ADD CONSTRAINT "{stage_pk[0]}" {stage_pk[1]}'
                ),
            )
    finally:
        await conn.close()
    await _build_indexes([definition for _, definition in indexes])
    conn = await connect(DB_NAME)
    try:
        await _timed("vacuum analyze", conn.execute("VACUUM (ANALYZE)"))
        await conn.execute(f"COMMENT ON DATABASE {DB_NAME} IS '{SEEDED_MARK}'")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def forget_previous_runs() -> None:
    """Delete what earlier benchmark runs created, so each run reads the same data."""
    conn = await connect(DB_NAME)
    try:
        deleted = await conn.execute(
            "DELETE FROM generations WHERE user_id = $1 AND prompt = $2", BENCH_USER, CREATE_PROMPT
        )
        await conn.execute("DELETE FROM idempotency_keys WHERE user_id = $1", BENCH_USER)
        count = int(deleted.split()[-1])
        if count:
            log(f"deleted {count} generations created by earlier runs")
            await conn.execute("VACUUM (ANALYZE) generations, generation_stages")
    finally:
        await conn.close()


@dataclass
class Dataset:
    """What the seeded database holds, and what the measurements read from it."""

    generations: int
    stages: int
    bench_rows: int
    project_id: str  # one of the bench user's projects
    sample_ids: list[str]  # random generations of the bench user
    server_version: str


async def describe_dataset(samples: int) -> Dataset:
    conn = await connect(DB_NAME)
    try:
        project = await conn.fetchval(
            "SELECT id::text FROM projects WHERE user_id = $1 ORDER BY id LIMIT 1", BENCH_USER
        )
        ids = await conn.fetch(
            "SELECT id::text FROM generations WHERE user_id = $1 ORDER BY random() LIMIT $2",
            BENCH_USER,
            samples,
        )
        return Dataset(
            generations=int(await conn.fetchval("SELECT count(*) FROM generations")),
            stages=int(await conn.fetchval("SELECT count(*) FROM generation_stages")),
            bench_rows=int(
                await conn.fetchval(
                    "SELECT count(*) FROM generations WHERE user_id = $1", BENCH_USER
                )
            ),
            project_id=str(project),
            sample_ids=[row[0] for row in ids],
            server_version=str(await conn.fetchval("SHOW server_version")),
        )
    finally:
        await conn.close()
