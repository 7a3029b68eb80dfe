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

The parts: `bench/dataset.py` (the rows) and `bench/seed.py` (writing them),
`bench/servers.py` (Temporal and the API), `bench/api_operations.py` (what is timed,
and the budgets) and `bench/measure.py` (timing, and the table).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `python bench/api.py` puts bench/ first on the path, where this file would shadow the
# `api` package: the project root takes its place.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.api_operations import JWT_SECRET, run_benchmarks  # noqa: E402
from bench.dataset import BENCH_USER, OTHER_USERS  # noqa: E402
from bench.measure import log, print_table  # noqa: E402
from bench.postgres import drop_database, recreate_database  # noqa: E402
from bench.seed import (  # noqa: E402
    DB_NAME,
    URL,
    dataset_ready,
    describe_dataset,
    forget_previous_runs,
    run_migrations,
    seed,
)
from bench.servers import api_in_process, api_subprocess, temporal  # noqa: E402

API_LOG = Path(tempfile.gettempdir()) / "genflow-bench-api.log"


def first_error(path: Path, lines: int = 60) -> str:
    """The first traceback (or ERROR line) of the API's log."""
    text = path.read_text(errors="replace").splitlines()
    for index, line in enumerate(text):
        if line.startswith("Traceback") or "ERROR" in line:
            return "\n".join(text[index : index + lines])
    return "(none logged)"


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
        await recreate_database(DB_NAME)
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
                    serving = api_in_process(URL, env, JWT_SECRET)
                else:
                    mode = "uvicorn in a subprocess (python -m genflow.cli api)"
                    target = env.client.service_client.config.target_host
                    serving = api_subprocess(URL, target, JWT_SECRET, Path(tmp), API_LOG)
                async with serving as server:
                    log(f"API at {server.base_url}: {mode}")
                    results = await run_benchmarks(server, dataset, args)
    finally:
        if not args.keep:
            await drop_database(DB_NAME)
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
