"""Latency of the HTTP API against PostgreSQL holding 1,000,000 generations.

Run it from the project root (PostgreSQL must listen on 127.0.0.1:5432, user
`postgres`, trust auth, admin database `test`):

    .venv/bin/python bench/api.py            # fresh database: seeding takes about 1 minute
    .venv/bin/python bench/api.py --reuse    # reuse the seeded database
    .venv/bin/python bench/api.py --reuse --only q= --only statistics  # some operations

The measurements take 2-3 minutes (each operation stops after `--max-seconds`).

What it does:

1. Creates the database `genflow_bench` (dropped first, unless `--reuse` finds it
   complete), applies the migrations and seeds it with server-side SQL
   (`INSERT ... SELECT ... FROM generate_series`): 1,000,000 generations, 100,000 of
   them for `bench-user` and the rest spread over 999 other users, 4 stage rows per
   generation, 5 projects per user; then `VACUUM (ANALYZE)`. The secondary indexes
   are dropped during the bulk insert and rebuilt afterwards from their own
   definitions, which is much faster than maintaining them row by row.
2. Starts a Temporal dev server (the `temporal` binary next to the interpreter; it is
   never downloaded) and serves the API with uvicorn, by default in a subprocess
   (`python -m genflow.cli api`, exactly what production runs) so that the client
   and the server do not share one event loop; `--in-process` serves it in this
   process instead. No worker runs: created workflows just wait in Temporal.
3. Measures with httpx, after a warm-up, p50/p95 latency of get, the list (first
   page, each filter alone, a page 50 pages deep), the statistics (one client each)
   and create (1, then 16 concurrent clients), and prints them against the budgets
   with PASS/FAIL, the number of non-2xx answers per operation, the CPU time the API
   process spent per request, and a check that each filter's answer holds only
   matching items (a filter the API ignored would still answer 200).

The database is kept at the end by default, since seeding takes minutes; rerun with
`--reuse` to skip seeding (the generations a previous run created are deleted first
so every run sees the same data). `--drop` removes the database at the end. All
figures include the client's own overhead: the `GET /healthz` line shows that floor.
The whole stack (client, API, Temporal, PostgreSQL) shares the machine's CPUs, so run
it on an otherwise idle machine: the output warns when the load average was already
above 1 at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `api` and `workflows` are importable from the root
    sys.path.insert(0, str(ROOT))

PG = "postgres@127.0.0.1:5432"
ADMIN_DSN = f"postgresql://{PG}/test"
DB_NAME = "genflow_bench"
DSN = f"postgresql://{PG}/{DB_NAME}"
URL = f"postgresql+asyncpg://{PG}/{DB_NAME}"
SEEDED_MARK = "genflow bench dataset v2"

TOTAL = 1_000_000
BENCH_USER = "bench-user"
BENCH_ROWS = 100_000
OTHER_USERS = 999
PROJECTS_PER_USER = 5
SEARCH_WORD = "invoice"  # one of NOUNS: in about 2.5% of titles and prompts
CREATE_PROMPT = "Book has title (text, required)."
JWT_SECRET = "bench-secret-" + "x" * 40
CREATE_BUDGET_MS = 30.0
READ_BUDGET_MS = 15.0
STATISTICS_BUDGET_MS = 150.0
DEEP_PAGES = 50
API_LOG = Path(tempfile.gettempdir()) / "genflow-bench-api.log"


def _words(text: str, separator: str | None = None) -> list[str]:
    return text.split(separator)


ADJECTIVES = _words(
    "shared personal internal public tiny secure async minimal offline realtime legacy "
    "modern simple scalable versioned audited cached distributed serverless friendly"
)
NOUNS = _words(
    "invoice library recipe inventory booking ticket garden warehouse playlist survey "
    "classroom clinic fleet expense payroll newsletter podcast museum parking kitchen gym "
    "hotel restaurant voting wiki forum bakery zoo tournament vineyard pharmacy courier "
    "laundry bicycle aquarium orchard observatory theater ferry greenhouse"
)
KINDS = _words("tracker service api catalog dashboard registry planner portal")
VERBS = _words("Build Create Generate Write Design Scaffold")
FIELDS = _words(
    "title,name,email,price,quantity,due date,status,rating,address,phone,notes,sku,"
    "capacity,author,isbn,start time,end time,category,weight,color,owner,deadline,score,"
    "description",
    ",",
)
TYPES = _words("text integer decimal date datetime boolean email url")
EXTRAS = [
    "Add pagination to every list.",
    "Users sign in with email and password.",
    "Expose a CSV export.",
    "Keep an audit log of every change.",
    "Soft-delete instead of deleting.",
    "Validate every input and return helpful errors.",
    "",
]


def _array(words: Sequence[str]) -> str:
    """A text[] literal of constant words (no quotes or backslashes in them)."""
    return "ARRAY[" + ",".join("'" + w.replace("'", "''") + "'" for w in words) + "]::text[]"


def _pick(words: Sequence[str]) -> str:
    return f"({_array(words)})[1 + floor(random() * {len(words)})::int]"


# Every layer is a subquery with volatile functions in its select list, so PostgreSQL
# evaluates each random() once per row (it does not inline such subqueries).
GENERATIONS_SQL = f"""
INSERT INTO generations (
    id, user_id, project_id, parent_id, root_id, iteration, title, prompt, template,
    variables, provider, model, status, stage, progress, quality_score, quality_report,
    error_code, error_message, cancel_reason, tags, metadata, metrics, workflow_id,
    last_event_id, created_at, updated_at, started_at, completed_at)
SELECT
    id, user_id, project_id, NULL, NULL, 0,
    CASE WHEN r_title < 0.97 THEN initcap(adjective) || ' ' || noun || ' ' || kind END,
    rtrim(format('%s a %s %s %s. A %s has %s (%s, required), %s (%s) and %s (%s). %s',
           verb, adjective, noun, kind, noun, f1, t1, f2, t2, f3, t3, extra)),
    CASE WHEN r_title < 0.3 THEN 'crud-api' END,
    '{{}}'::json, 'builtin', NULL, status,
    CASE status WHEN 'processing' THEN 'code_generation' WHEN 'failed' THEN 'code_review' END,
    CASE status WHEN 'completed' THEN 100 WHEN 'failed' THEN 55 WHEN 'pending' THEN 0
        ELSE 20 END,
    quality,
    CASE WHEN quality IS NOT NULL THEN json_build_object(
        'score', quality, 'compiles', true,
        'tests', json_build_object('passed', floor(quality / 10)::int, 'total', 10),
        'issues', '[]'::json) END,
    CASE WHEN status = 'failed' THEN 'stage_failed' END,
    CASE WHEN status = 'failed'
        THEN 'code_review failed after 3 attempts: the tests did not pass' END,
    CASE WHEN status = 'cancelled' THEN 'Cancelled by the user.' END,
    tags, '{{}}'::json,
    CASE WHEN status = 'completed'
        THEN json_build_object('tokens_in', tokens, 'tokens_out', tokens * 3)
        ELSE '{{}}'::json END,
    'gen-' || id, 0, created_at, coalesce(completed_at, started_at, created_at),
    started_at, completed_at
FROM (
    SELECT *,
        CASE WHEN status IN ('completed', 'failed') THEN least(started_at + run, now())
             WHEN status = 'cancelled' THEN least(started_at + run * 0.3, now())
        END AS completed_at
    FROM (
        SELECT *,
            CASE WHEN status <> 'pending' THEN created_at + queue END AS started_at,
            CASE WHEN status = 'completed'
                THEN round((100 * (1 - r_quality ^ 2))::numeric, 1)::float8 END AS quality
        FROM (
            SELECT *,
                CASE WHEN created_at > now() - interval '2 hours' THEN
                        CASE WHEN r_status < 0.3 THEN 'pending'
                             WHEN r_status < 0.6 THEN 'processing'
                             ELSE 'completed' END
                     WHEN r_status < 0.88 THEN 'completed'
                     WHEN r_status < 0.95 THEN 'failed'
                     ELSE 'cancelled' END AS status
            FROM (
                SELECT gen_random_uuid() AS id, user_id,
                    CASE WHEN random() < 0.9 THEN md5(
                        user_id || ':project:' || floor(random() * {PROJECTS_PER_USER})::int
                    )::uuid::text END AS project_id,
                    now() - random() * interval '60 days' AS created_at,
                    random() AS r_status, random() AS r_quality, random() AS r_title,
                    make_interval(secs => 0.02 + random() * 0.5) AS queue,
                    make_interval(secs => 4 + 56 * random() ^ 2) AS run,
                    (200 + random() * 3000)::int AS tokens,
                    to_jsonb(array_remove(ARRAY[
                        CASE WHEN random() < 0.25 THEN 'api' END,
                        CASE WHEN random() < 0.15 THEN 'cli' END,
                        CASE WHEN random() < 0.10 THEN 'demo' END,
                        CASE WHEN random() < 0.30
                            THEN 'x' || (1 + floor(random() * 9)::int) END
                    ], NULL)) AS tags,
                    {_pick(VERBS)} AS verb, {_pick(ADJECTIVES)} AS adjective,
                    {_pick(NOUNS)} AS noun, {_pick(KINDS)} AS kind,
                    {_pick(FIELDS)} AS f1, {_pick(TYPES)} AS t1,
                    {_pick(FIELDS)} AS f2, {_pick(TYPES)} AS t2,
                    {_pick(FIELDS)} AS f3, {_pick(TYPES)} AS t3,
                    {_pick(EXTRAS)} AS extra
                FROM (
                    SELECT n, CASE WHEN n <= $1 THEN '{BENCH_USER}'
                        ELSE 'user-' || lpad((1 + n % {OTHER_USERS})::text, 3, '0') END
                        AS user_id
                    FROM generate_series(1, $2) AS n
                ) AS base
            ) AS a
        ) AS b
    ) AS c
) AS d
ORDER BY created_at
"""

# `begun` stages have started: all 4 of a completed generation, 3 of a failed one (the
# review failed), 2 of a processing one (generation running), 1 of a cancelled one.
# The run time (started_at to completed_at, or now) is split between them by weight.
STAGES_SQL = """
INSERT INTO generation_stages (
    generation_id, name, position, status, attempts, started_at, ended_at, duration_ms, error)
SELECT id, name, position,
    CASE WHEN position < begun - 1 THEN 'completed'
         WHEN position = begun - 1 THEN CASE status WHEN 'failed' THEN 'failed'
             WHEN 'processing' THEN 'running' ELSE 'completed' END
         WHEN status IN ('failed', 'cancelled') THEN 'skipped'
         ELSE 'pending' END,
    CASE WHEN position = begun - 1 AND status = 'failed' THEN 3
         WHEN position < begun THEN 1 ELSE 0 END,
    CASE WHEN position < begun THEN started_at + span * (lo / top) END,
    CASE WHEN ended THEN started_at + span * (hi / top) END,
    CASE WHEN ended THEN round(extract(epoch FROM span) * 1000 * (hi - lo) / top)::int END,
    CASE WHEN position = begun - 1 AND status = 'failed' THEN 'the tests did not pass' END
FROM (
    SELECT *,
        position < begun AND NOT (position = begun - 1 AND status = 'processing') AS ended,
        (ARRAY[0.15, 0.60, 0.88, 1.0]::float8[])[begun] AS top
    FROM (
        SELECT g.id, g.status, g.started_at, s.name, s.position, s.lo, s.hi,
            CASE g.status WHEN 'completed' THEN 4 WHEN 'failed' THEN 3
                WHEN 'processing' THEN 2 WHEN 'cancelled' THEN 1 ELSE 0 END AS begun,
            coalesce(g.completed_at, now()) - g.started_at AS span
        FROM generations AS g
        CROSS JOIN (VALUES
            ('schema_extraction', 0, 0.0::float8, 0.15::float8),
            ('code_generation', 1, 0.15, 0.60),
            ('code_review', 2, 0.60, 0.88),
            ('documentation', 3, 0.88, 1.0)
        ) AS s (name, position, lo, hi)
    ) AS joined
) AS x
"""

# The durations the read model copies onto each generation when a stage or the run
# completes (statistics read them from one covering index).
DURATIONS_SQL = """
UPDATE generations AS g SET
    run_ms = CASE WHEN g.completed_at IS NOT NULL
        THEN (extract(epoch FROM g.completed_at - g.started_at) * 1000)::int END,
    schema_extraction_ms = d.schema_extraction,
    code_generation_ms = d.code_generation,
    code_review_ms = d.code_review,
    documentation_ms = d.documentation
FROM (
    SELECT generation_id,
        max(duration_ms) FILTER (WHERE name = 'schema_extraction'
            AND status = 'completed') AS schema_extraction,
        max(duration_ms) FILTER (WHERE name = 'code_generation'
            AND status = 'completed') AS code_generation,
        max(duration_ms) FILTER (WHERE name = 'code_review'
            AND status = 'completed') AS code_review,
        max(duration_ms) FILTER (WHERE name = 'documentation'
            AND status = 'completed') AS documentation
    FROM generation_stages GROUP BY generation_id
) AS d
WHERE d.generation_id = g.id
"""

PROJECTS_SQL = f"""
INSERT INTO projects (id, user_id, name, description, created_at)
SELECT md5(u.user_id || ':project:' || k)::uuid, u.user_id,
    initcap(({_array(NOUNS)})[1 + (k * 7 + length(u.user_id)) % {len(NOUNS)}]) || ' project '
        || k,
    CASE WHEN k % 2 = 0 THEN 'Seeded by bench/api.py.' END,
    now() - interval '61 days' + k * interval '1 day'
FROM (
    SELECT '{BENCH_USER}' AS user_id
    UNION ALL
    SELECT 'user-' || lpad(i::text, 3, '0') FROM generate_series(1, {OTHER_USERS}) AS i
) AS u
CROSS JOIN generate_series(0, {PROJECTS_PER_USER - 1}) AS k
"""

SECONDARY_INDEXES_SQL = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
JOIN pg_class AS t ON t.oid = x.indrelid
WHERE t.relname = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""


# -- the database -----------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


async def connect(dsn: str = DSN) -> Any:
    return await asyncpg.connect(dsn)


async def dataset_ready() -> bool:
    """The bench database exists, finished seeding and has >= TOTAL generations."""
    admin = await connect(ADMIN_DSN)
    try:
        mark = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            DB_NAME,
        )
    finally:
        await admin.close()
    if mark != SEEDED_MARK:
        return False
    conn = await connect()
    try:
        if await conn.fetchval("SELECT to_regclass('generations')") is None:
            return False
        return int(await conn.fetchval("SELECT count(*) FROM generations")) >= TOTAL
    finally:
        await conn.close()


async def recreate_database() -> None:
    admin = await connect(ADMIN_DSN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DB_NAME}")
    finally:
        await admin.close()


async def drop_database() -> None:
    admin = await connect(ADMIN_DSN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    finally:
        await admin.close()


async def run_migrations() -> None:
    from genflow.db.engine import make_engine, migrate

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
        conn = await connect()
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
    conn = await connect()
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
    conn = await connect()
    try:
        await _timed("vacuum analyze", conn.execute("VACUUM (ANALYZE)"))
        await conn.execute(f"COMMENT ON DATABASE {DB_NAME} IS '{SEEDED_MARK}'")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def forget_previous_runs() -> None:
    """Delete what earlier benchmark runs created, so each run reads the same data."""
    conn = await connect()
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
    generations: int
    stages: int
    bench_rows: int
    project_id: str
    sample_ids: list[str]
    server_version: str


async def describe_dataset(samples: int) -> Dataset:
    conn = await connect()
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


# -- the stack ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def temporal() -> AsyncIterator[Any]:
    from temporalio.testing import WorkflowEnvironment

    import genflow.search_attributes

    binary = Path(sys.executable).parent / "temporal"
    if not binary.exists():
        raise SystemExit(f"no Temporal CLI at {binary}; install the project first")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary),
        search_attributes=genflow.search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def wait_ready(base_url: str, alive: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError("the API exited before it was ready")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API was not ready within {seconds:.0f} s")


@dataclass
class Server:
    base_url: str
    cpu_seconds: Callable[[], float] | None  # CPU time the API process has used so far


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def api_subprocess(target_host: str, home: Path, log_path: Path) -> AsyncIterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": URL,
        "TEMPORAL_ADDRESS": target_host,
        "GENFLOW_JWT_SECRET": JWT_SECRET,
        "GENFLOW_TASK_QUEUE": "bench",
        "GENFLOW_MAX_ACTIVE_PER_USER": str(10**9),
        "GENFLOW_MAX_CREATES_PER_MINUTE": str(10**9),
        "GENFLOW_HOME": str(home),
    }
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "genflow.cli",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            await wait_ready(base_url, lambda: process.returncode is None)
        except RuntimeError:
            text = await asyncio.to_thread(log_path.read_text, errors="replace")
            sys.stderr.write(text[-4000:])
            raise
        linux = sys.platform.startswith("linux")
        yield Server(
            base_url, functools.partial(process_cpu_seconds, process.pid) if linux else None
        )
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def api_in_process(env: Any) -> AsyncIterator[Server]:
    import uvicorn
    from pydantic import SecretStr

    from api.app import create_app
    from genflow.db.engine import make_engine
    from genflow.settings import Settings

    port = free_port()
    engine = make_engine(URL)
    settings = Settings(
        database_url=URL,
        temporal_address=env.client.service_client.config.target_host,
        task_queue="bench",
        jwt_secret=SecretStr(JWT_SECRET),
        max_active_per_user=10**9,
        max_creates_per_minute=10**9,
    )
    app = create_app(settings, engine=engine, temporal=env.client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    base_url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base_url, lambda: not task.done())
        yield Server(base_url, None)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        await engine.dispose()


# -- measuring ------------------------------------------------------------------------------

Check = Callable[[dict[str, Any]], bool]


@dataclass
class Result:
    name: str
    concurrency: int
    budget_ms: float | None
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    items: int | None = None
    note: str = ""
    capped: bool = False
    load: float | None = None  # the 1-minute load average when the operation ended
    server_cpu_ms: float | None = None  # API process CPU time per request
    client_cpu_ms: float | None = None  # this process's CPU time per request

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def non_2xx(self) -> int:
        bad = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return bad + sum(self.failures.values())

    def percentile(self, fraction: float) -> float | None:
        """Nearest rank."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]

    @property
    def verdict(self) -> str:
        p95 = self.percentile(0.95)
        if self.budget_ms is None:
            return "-"
        if p95 is None or self.non_2xx or "WRONG" in self.note:
            return "FAIL"
        return "PASS" if p95 < self.budget_ms else "FAIL"


async def measure(
    client: httpx.AsyncClient,
    result: Result,
    request: Callable[[int], tuple[str, str, dict[str, Any] | None]],
    samples: int,
    warmup: int,
    max_seconds: float,
    cpu_seconds: Callable[[], float] | None = None,
) -> httpx.Response | None:
    """Send `warmup` then `samples` requests from `result.concurrency` clients; record
    the latency of the latter, and the API process's CPU time per request when
    `cpu_seconds` measures it. Returns the last 2xx response."""
    last: httpx.Response | None = None
    counter = 0
    stop_at = math.inf

    async def one(index: int, record: bool) -> None:
        nonlocal last
        method, url, body = request(index)
        started = time.perf_counter()
        try:
            response = await client.request(method, url, json=body)
        except httpx.HTTPError as err:
            elapsed = (time.perf_counter() - started) * 1000
            if record:
                result.latencies_ms.append(elapsed)
                result.failures[type(err).__name__] += 1
            return
        elapsed = (time.perf_counter() - started) * 1000
        if record:
            result.latencies_ms.append(elapsed)
            result.statuses[response.status_code] += 1
        if response.is_success:
            last = response

    async def worker(total: int, record: bool) -> None:
        nonlocal counter
        while counter < total and time.monotonic() < stop_at:
            index = counter
            counter += 1
            await one(index, record)

    await asyncio.gather(*(worker(warmup, False) for _ in range(result.concurrency)))
    counter = 0
    cpu_before = cpu_seconds() if cpu_seconds else None
    client_before = time.process_time()
    started = time.perf_counter()
    stop_at = time.monotonic() + max_seconds
    await asyncio.gather(*(worker(samples, True) for _ in range(result.concurrency)))
    result.wall_seconds = time.perf_counter() - started
    if result.count:
        result.client_cpu_ms = (time.process_time() - client_before) * 1000 / result.count
    if cpu_seconds is not None and cpu_before is not None and result.count:
        result.server_cpu_ms = (cpu_seconds() - cpu_before) * 1000 / result.count
    result.capped = result.count < samples
    result.load = os.getloadavg()[0]
    return last


def check_page(result: Result, response: httpx.Response | None, check: Check | None) -> None:
    """Record the item count of the last page and whether every item is the user's and
    matches the filter (a filter the API ignores would still answer 200)."""
    if response is None:
        result.note = "no 2xx answer"
        return
    body = response.json()
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        result.note = "not a page"
        return
    result.items = len(items)
    wrong = [
        item
        for item in items
        if item.get("user_id") != BENCH_USER or (check is not None and not check(item))
    ]
    if wrong:
        result.note = f"WRONG: {len(wrong)} of {len(items)} items do not match"
    elif not items:
        result.note = "empty page"


def _created(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(item["created_at"]).replace("Z", "+00:00"))


def _quality(item: dict[str, Any]) -> float:
    value = item.get("quality_score")
    return float(value) if value is not None else math.nan


async def deep_cursor(client: httpx.AsyncClient, pages: int) -> tuple[str | None, str]:
    """The cursor of page `pages + 1` of the list with limit=100, or None and why not."""
    cursor: str | None = None
    for page in range(pages):
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/generations", params=params)
        if not response.is_success:
            return None, f"page {page + 1} answered {response.status_code}"
        cursor = response.json().get("next_cursor")
        if not cursor:
            return None, f"no next_cursor after page {page + 1}"
    return cursor, ""


async def run_benchmarks(
    server: Server, dataset: Dataset, args: argparse.Namespace
) -> list[Result]:
    from genflow.auth import issue_token

    token = issue_token(BENCH_USER, JWT_SECRET, 3600)
    now = datetime.now(UTC)
    after = now - timedelta(days=7)
    before = now - timedelta(days=50)
    limits = httpx.Limits(max_connections=args.concurrency + 4, max_keepalive_connections=64)
    results: list[Result] = []
    samples, warmup, cap, cpu = args.samples, args.warmup, args.max_seconds, server.cpu_seconds

    def wanted(name: str) -> bool:
        return not args.only or any(part in name for part in args.only)

    async with httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=60,
    ) as client:

        async def read(
            name: str,
            path: str,
            budget: float | None,
            check: Check | None = None,
            page: bool = False,
            sample_count: int = samples,
        ) -> None:
            if not wanted(name):
                return
            result = Result(name, 1, budget)
            log(f"measuring {name}")
            last = await measure(
                client, result, lambda _: ("GET", path, None), sample_count, warmup, cap, cpu
            )
            if page:
                check_page(result, last, check)
            results.append(result)

        await read("GET /healthz (harness floor)", "/healthz", None)

        get = Result("GET /v1/generations/{id}", 1, READ_BUDGET_MS)
        if wanted(get.name):
            log(f"measuring {get.name}")
            ids = dataset.sample_ids
            await measure(
                client,
                get,
                lambda i: ("GET", f"/v1/generations/{ids[i % len(ids)]}", None),
                samples,
                warmup,
                cap,
                cpu,
            )
            get.note = f"{len(ids)} different ids"
            results.append(get)

        lists: list[tuple[str, dict[str, Any], Check | None]] = [
            ("list first page", {}, None),
            (
                "list status=completed",
                {"status": "completed"},
                lambda i: i["status"] == "completed",
            ),
            (
                "list project_id=<one>",
                {"project_id": dataset.project_id},
                lambda i: i["project_id"] == dataset.project_id,
            ),
            ("list min_quality=90", {"min_quality": 90}, lambda i: _quality(i) >= 90),
            ("list max_quality=10", {"max_quality": 10}, lambda i: _quality(i) <= 10),
            (
                "list created_after=-7d",
                {"created_after": after.isoformat()},
                lambda i: _created(i) > after,
            ),
            (
                "list created_before=-50d",
                {"created_before": before.isoformat()},
                lambda i: _created(i) < before,
            ),
            ("list tag=api", {"tag": "api"}, lambda i: "api" in i["tags"]),
            (
                f"list q={SEARCH_WORD}",
                {"q": SEARCH_WORD},
                lambda i: SEARCH_WORD in f"{i['title'] or ''} {i['prompt']}".lower(),
            ),
        ]
        for name, extra, check in lists:
            params = httpx.QueryParams({"limit": 20, **extra})
            await read(name, f"/v1/generations?{params}", READ_BUDGET_MS, check=check, page=True)

        deep_name = f"list page {DEEP_PAGES + 1} (limit=100)"
        cursor, why = await deep_cursor(client, DEEP_PAGES) if wanted(deep_name) else (None, "")
        if cursor is None:
            if wanted(deep_name):
                results.append(Result(deep_name, 1, READ_BUDGET_MS, note=f"skipped: {why}"))
        else:
            deep_path = f"/v1/generations?{httpx.QueryParams({'limit': 100, 'cursor': cursor})}"
            await read(deep_name, deep_path, READ_BUDGET_MS, page=True)

        await read(
            "GET /v1/generations/statistics", "/v1/generations/statistics", STATISTICS_BUDGET_MS
        )

        body = {"prompt": CREATE_PROMPT}
        # One client first: the service time of a create, without queueing; then the
        # budgeted figure at `--concurrency` clients.
        for concurrency, count, budget in (
            (1, min(samples, args.creates), None),
            (args.concurrency, args.creates, CREATE_BUDGET_MS),
        ):
            create = Result("POST /v1/generations", concurrency, budget)
            if not wanted(create.name):
                continue
            log(f"measuring {create.name} ({count} requests, {concurrency} clients)")
            await measure(
                client,
                create,
                lambda _: ("POST", "/v1/generations", body),
                count,
                max(concurrency * 3, warmup),
                cap,
                cpu,
            )
            if create.count:
                create.note = f"{create.count / create.wall_seconds:.0f} req/s"
            results.append(create)
    return results


def first_error(path: Path, lines: int = 60) -> str:
    """The first traceback (or ERROR line) of the API's log."""
    text = path.read_text(errors="replace").splitlines()
    for index, line in enumerate(text):
        if line.startswith("Traceback") or "ERROR" in line:
            return "\n".join(text[index : index + lines])
    return "(none logged)"


# -- output -----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(results: list[Result]) -> None:
    header = [
        "operation",
        "conc",
        "n",
        "p50 ms",
        "p95 ms",
        "budget",
        "verdict",
        "non-2xx",
        "api cpu ms",
        "client cpu ms",
        "items",
        "load",
        "notes",
    ]
    rows: list[list[str]] = []
    for r in results:
        bad = ", ".join(
            [f"{status}x{n}" for status, n in sorted(r.statuses.items()) if status >= 300]
            + [f"{kind}x{n}" for kind, n in r.failures.items()]
        )
        notes = "; ".join(
            part for part in (r.note, "time-capped" if r.capped and r.count else "") if part
        )
        rows.append(
            [
                r.name,
                str(r.concurrency),
                str(r.count),
                _ms(r.percentile(0.5)),
                _ms(r.percentile(0.95)),
                "-" if r.budget_ms is None else f"p95<{r.budget_ms:.0f}",
                r.verdict if r.count or r.budget_ms is None else "FAIL",
                f"{r.non_2xx}" + (f" ({bad})" if bad else ""),
                _ms(r.server_cpu_ms),
                _ms(r.client_cpu_ms),
                "-" if r.items is None else str(r.items),
                "-" if r.load is None else f"{r.load:.1f}",
                notes,
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {1, 2, 3, 4, 8, 9, 11}

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print()
    for legend in (
        "conc: concurrent clients; n: timed requests, after a warm-up.",
        "non-2xx: answers outside 200-299, and broken connections.",
        "api cpu ms: CPU time the API process spent per request; client cpu ms: the same for",
        "  this process (httpx, and the API too with --in-process). items: items on the last",
        "  page, each checked against its filter.",
        "load: the 1-minute load average when the operation ended.",
    ):
        print(legend)
    failed = [r.name for r in results if r.budget_ms is not None and r.verdict != "PASS"]
    print()
    print(
        f"{len(failed)} of {sum(r.budget_ms is not None for r in results)} budgets failed"
        + (": " + ", ".join(failed) if failed else "")
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the bench database if it is already seeded (>= 1,000,000 generations)",
    )
    parser.add_argument("--samples", type=int, default=200, help="timed requests per read")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first")
    parser.add_argument("--creates", type=int, default=800, help="timed creates")
    parser.add_argument("--concurrency", type=int, default=16, help="clients that create")
    parser.add_argument(
        "--max-seconds", type=float, default=90, help="stop timing one operation after this"
    )
    parser.add_argument(
        "--keep",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the database at the end (default; --no-keep drops it)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="measure only the operations whose name contains TEXT (repeatable)",
    )
    parser.add_argument("--drop", dest="keep", action="store_false", help="same as --no-keep")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the API in this process (shares the client's event loop)",
    )
    return parser.parse_args(argv)


async def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()[0]
    seed_seconds: float | None = None
    if args.reuse and await dataset_ready():
        log(f"reusing the seeded database {DB_NAME}")
        await run_migrations()
        await forget_previous_runs()
    else:
        log(f"creating database {DB_NAME}")
        await recreate_database()
        await run_migrations()
        seed_seconds = await seed()
        log(f"seeded in {seed_seconds:.0f} s")
    dataset = await describe_dataset(args.samples)
    try:
        with tempfile.TemporaryDirectory(prefix="genflow-bench-") as tmp:
            log("starting the Temporal dev server")
            async with temporal() as env:
                if args.in_process:
                    mode = "uvicorn in this process (shares the client's event loop)"
                    serving = api_in_process(env)
                else:
                    mode = "uvicorn in a subprocess (python -m genflow.cli api)"
                    target = env.client.service_client.config.target_host
                    serving = api_subprocess(target, Path(tmp), API_LOG)
                async with serving as server:
                    log(f"API at {server.base_url}: {mode}")
                    results = await run_benchmarks(server, dataset, args)
    finally:
        if not args.keep:
            await drop_database()
            log(f"dropped {DB_NAME}")

    print()
    print(f"genflow API benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"  data:   PostgreSQL {dataset.server_version} {DB_NAME}: {dataset.generations:,} "
        f"generations ({dataset.bench_rows:,} for {BENCH_USER}, the rest over "
        f"{OTHER_USERS} users), {dataset.stages:,} stage rows"
        + (f"; seeded in {seed_seconds:.0f} s" if seed_seconds is not None else "; reused")
    )
    print(f"  server: {mode}; Temporal dev server, no worker")
    if not args.in_process:
        print(f"  server log: {API_LOG}")
    print(
        f"  client: httpx in this process; reads sequential (1 client), creates "
        f"{args.concurrency} concurrent; {os.cpu_count()} CPUs shared by everything; "
        f"Python {platform.python_version()}"
    )
    busiest = max([load_before, *(r.load for r in results if r.load is not None)])
    print(f"  load:   1-minute load average {load_before:.1f} at start, {busiest:.1f} at most")
    if load_before > 1.0:
        print(
            "  WARNING: the machine was already busy when the benchmark started; other work"
            " competes for the CPUs and inflates these figures."
        )
    print()
    print_table(results)
    if not args.in_process and any(
        any(status >= 500 for status in r.statuses) or r.failures for r in results
    ):
        print()
        print(f"5xx or broken connections; the first error in {API_LOG}:")
        print(first_error(API_LOG))


if __name__ == "__main__":
    asyncio.run(main())
