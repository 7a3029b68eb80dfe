"""Burst benchmark: N generations from C concurrent clients against a real `genflow up`
(builtin provider), measured against a ceiling taken in the same run.

1. SQLite (the embedded default), generated tests run: one generation of each prompt
   of the mix alone, measuring the CPU-seconds of the whole process tree (Temporal dev
   server, worker, API, sandboxed test runs) -> ceiling = CPU cores / CPU-seconds per
   generation. Then the burst: completed/failed/other, create latency p50/p95 during
   the burst, generations/s (first create to last completion) and its ratio to the
   ceiling.
2. SQLite with GENFLOW_RUN_GENERATED_CODE=false, beside raw Temporal on the same dev
   server (a workflow of four no-op activities, an in-script worker on its own task
   queue, N workflows from C concurrent starters): genflow's rate / raw Temporal's.
3. The same no-tests burst on PostgreSQL (a fresh database, dropped afterwards).

Every phase's generations are then checked against the read model and Temporal.
Run: `.venv/bin/python -m bench.burst [--n 200] [--c 16]` (as a module, so that
`bench/api.py` does not shadow the `api` package). Exits 1 if a budget fails. The
measurements are in `bench/burst_runs.py`, the raw Temporal floor in
`bench/raw_temporal.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.burst_runs import (
    cpu_by_role,
    cpu_split,
    idle_cpu_rate,
    run_burst,
    single_runs,
    tree_cpu_seconds,
)
from bench.postgres import create_database, drop_database, pg_url
from bench.procs import own_cpu
from bench.raw_temporal import raw_temporal
from bench.stack import Stack
from bench.workload import LIMITS


@dataclass
class Budget:
    name: str
    ok: bool
    measured: str


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="generations per burst")
    parser.add_argument("--c", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--phases",
        default="tests,notests,postgres",
        help="comma-separated subset of tests, notests, postgres",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per burst to finish")
    parser.add_argument("--keep", action="store_true", help="keep the stacks' home directories")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    n, c, ncores = args.n, args.c, len(os.sched_getaffinity(0))

    print(f"genflow burst benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  command: .venv/bin/python -m bench.burst {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"  machine: {ncores} CPU cores (shared), Python {sys.version.split()[0]}, load "
        f"{os.getloadavg()[0]:.1f}; genflow up, builtin provider, prompts over 3 templates"
    )
    print(f"  burst: {n} generations from {c} concurrent clients (one user, limits raised)")
    budgets: list[Budget] = []
    flush = sys.stdout.flush

    # 1. SQLite, generated tests run.
    if "tests" in phases:
        print(
            "\n[1] SQLite read model, generated tests run (GENFLOW_RUN_GENERATED_CODE=true), "
            f"sandbox slots: GENFLOW_SANDBOX_SLOTS default ({ncores})"
        )
        flush()
        stack = Stack(LIMITS, keep=args.keep)
        try:
            await stack.start()
            idle = await idle_cpu_rate(stack)
            cpu, wall = await single_runs(stack, 6)
            per_gen = statistics.mean(cpu)
            ceiling = ncores / per_gen
            print(
                f"  alone: {len(cpu)} generations one at a time: CPU-seconds of the whole tree "
                f"per generation mean {per_gen:.2f} (min {min(cpu):.2f}, max {max(cpu):.2f}); "
                f"wall mean {statistics.mean(wall):.2f} s; idle tree {idle:.3f} CPU-s/s"
            )
            print(f"  ceiling: {ncores} cores / {per_gen:.2f} CPU-s = {ceiling:.2f} generations/s")
            flush()
            cpu_before, roles_before = tree_cpu_seconds(stack), cpu_by_role(stack)
            burst = await run_burst(stack, "tests", n, c, args.timeout)
            burst_cpu = tree_cpu_seconds(stack) - cpu_before
            print("\n".join(burst.lines()))
            print(cpu_split(stack, roles_before, burst.completed))
            ratio = burst.rate / ceiling
            print(
                f"  ratio to the ceiling: {ratio:.2f}; tree CPU during the burst "
                f"{burst_cpu:.0f} CPU-s = {burst_cpu / max(1, burst.completed):.2f} per completed "
                "generation"
            )
            budgets += [
                Budget("burst: 100% completed", burst.completed == n, f"{burst.completed}/{n}"),
                Budget(
                    "burst: create p95 < 100 ms", burst.create_p95 < 0.1, fmt_ms(burst.create_p95)
                ),
                Budget(
                    "burst: throughput >= 0.8 x ceiling",
                    ratio >= 0.8,
                    f"{burst.rate:.2f}/s = {ratio:.2f} x {ceiling:.2f}/s",
                ),
            ]
        finally:
            await stack.stop()
            stack.cleanup()
        flush()

    # 2. SQLite, no generated tests, beside raw Temporal.
    if "notests" in phases:
        print("\n[2] SQLite read model, GENFLOW_RUN_GENERATED_CODE=false, beside raw Temporal")
        flush()
        stack = Stack({**LIMITS, "GENFLOW_RUN_GENERATED_CODE": "false"}, keep=args.keep)
        try:
            await stack.start()
            await single_runs(stack, 0)  # warm-up
            roles_before = cpu_by_role(stack)
            burst = await run_burst(stack, "notests", n, c, args.timeout)
            print("\n".join(burst.lines()))
            print(cpu_split(stack, roles_before, burst.completed))
            server_before, self_before = cpu_by_role(stack)["temporal"], own_cpu()
            raw_rate, raw_seconds = await raw_temporal(stack.temporal_address, n, c)
            server_cpu = (cpu_by_role(stack)["temporal"] - server_before) / n
            client_cpu = (own_cpu() - self_before) / n
            ratio = burst.rate / raw_rate
            print(
                f"  raw Temporal, same dev server: {n} workflows of 4 no-op activities from {c} "
                f"starters in {raw_seconds:.1f} s = {raw_rate:.2f} workflows/s; CPU-s per "
                f"workflow: temporal {server_cpu:.3f}, in-script worker and starters "
                f"{client_cpu:.3f}"
            )
            print(f"  genflow / raw Temporal: {ratio:.2f}")
            budgets += [
                Budget(
                    "no tests, SQLite: 100% completed",
                    burst.completed == n,
                    f"{burst.completed}/{n}",
                ),
                Budget(
                    "no tests, SQLite: >= 0.5 x raw Temporal",
                    ratio >= 0.5,
                    f"{burst.rate:.2f}/s = {ratio:.2f} x {raw_rate:.2f}/s",
                ),
                Budget(
                    "no tests, SQLite: create p95 < 100 ms",
                    burst.create_p95 < 0.1,
                    fmt_ms(burst.create_p95),
                ),
            ]
        finally:
            await stack.stop()
            stack.cleanup()
        flush()

    # 3. PostgreSQL, no generated tests.
    if "postgres" in phases:
        print("\n[3] PostgreSQL read model (fresh database), GENFLOW_RUN_GENERATED_CODE=false")
        flush()
        database = await create_database()
        env = {**LIMITS, "GENFLOW_RUN_GENERATED_CODE": "false", "DATABASE_URL": pg_url(database)}
        stack = Stack(env, keep=args.keep)
        try:
            await stack.start()
            await single_runs(stack, 0)  # warm-up
            roles_before = cpu_by_role(stack)
            burst = await run_burst(stack, "postgres", n, c, args.timeout)
            print("\n".join(burst.lines()))
            print(cpu_split(stack, roles_before, burst.completed))
            budgets += [
                Budget(
                    "no tests, PostgreSQL: 100% completed",
                    burst.completed == n,
                    f"{burst.completed}/{n}",
                ),
                Budget(
                    "no tests, PostgreSQL: create p95 < 100 ms",
                    burst.create_p95 < 0.1,
                    fmt_ms(burst.create_p95),
                ),
            ]
        finally:
            await stack.stop()
            stack.cleanup()
            await drop_database(database)
        flush()

    print("\nbudgets")
    for budget in budgets:
        print(f"  {'PASS' if budget.ok else 'FAIL'}  {budget.name:<42} {budget.measured}")
    failed = [b for b in budgets if not b.ok]
    print(f"{len(failed)} of {len(budgets)} budgets failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
