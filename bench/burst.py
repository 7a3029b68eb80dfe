"""Burst benchmark: N generations from C concurrent clients against a real `genflow up`
(builtin provider), measured against a ceiling taken in the same run.

Four phases, each on its own stack: `tests` (SQLite, the embedded default, generated
tests run), `tests-postgres` (the same on PostgreSQL, a fresh database dropped
afterwards), `notests` and `postgres` (GENFLOW_RUN_GENERATED_CODE=false on SQLite and on
PostgreSQL).

- Idle baseline, from the same stack before its burst (after one warm-up): `--idle`
  (16) generations one at a time, each waited to completion before the next (their
  create latency, and with tests the CPU-seconds of the whole process tree: Temporal
  dev server, worker, API, sandboxed test runs -> ceiling = CPU cores / CPU-seconds
  per generation), then `--gets` (50) sequential GETs of one generation.
- The burst: completed/failed/other; creates accepted at the first attempt (2xx with
  no 429/503/connection error before it: the budget) and in the end (after the
  client's retries, see `bench/genflow_http.py`); create latency p50/p95 (first
  attempt to the accepted answer) beside the idle p50/p95; GET of one generation (one
  created before the burst), polled by one more client every `--get-interval` (0.1)
  seconds from the first create until every generation of the burst has finished,
  p50/p95 beside the idle p50/p95 and its polls not answered 200; generations/s (first
  create to last completion) beside the ceiling; without tests, raw Temporal on the
  same dev server (a workflow of four no-op activities, an in-script worker on its
  own task queue, N workflows from C concurrent starters) and genflow's rate / raw
  Temporal's.
- Budgets (issue 19), PASS/FAIL per phase: 100% completed and accepted; create p95 <=
  250 ms; GET p95 <= 100 ms; with tests also create p95 <= 3 x the idle create p95
  and >= 0.8 x the ceiling, without tests >= 0.5 x raw Temporal.

Every phase's generations are then checked against the read model and Temporal.
Run: `.venv/bin/python -m bench.burst [--n 200] [--c 16] [--phases tests,postgres]
[--idle 16] [--gets 50] [--get-interval 0.1]` (as a module, so that `bench/api.py` does
not shadow the `api` package). Exits 1 if a budget fails. The
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
    Alone,
    Burst,
    cpu_by_role,
    cpu_split,
    idle_cpu_rate,
    run_burst,
    single_runs,
    tree_cpu_seconds,
)
from bench.measure import percentile
from bench.postgres import create_database, drop_database, pg_url
from bench.procs import own_cpu
from bench.raw_temporal import raw_temporal
from bench.stack import Stack
from bench.workload import LIMITS


@dataclass
class Options:
    """What every phase runs: N from C, the idle baseline's size, the GET poller."""

    n: int
    c: int
    timeout: float
    keep: bool
    idle: int
    gets: int
    get_interval: float


@dataclass
class Budget:
    name: str
    ok: bool
    measured: str


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


CREATE_P95 = 0.25  # seconds: a create answers at once, whatever the backlog
CREATE_VS_IDLE = 3.0
GET_P95 = 0.10
CEILING_SHARE = 0.8
RAW_SHARE = 0.5


def burst_budgets(name: str, burst: Burst, alone: Alone, n: int, vs_idle: bool) -> list[Budget]:
    """What every burst must show: all completed and accepted at once, creates and a
    GET fast during it; with `vs_idle`, creates within 3 x the idle create p95 of the
    same stack."""
    idle_p95 = percentile(alone.creates, 0.95)
    budgets = [
        Budget(f"{name}: 100% completed", burst.completed == n, f"{burst.completed}/{n}"),
        Budget(f"{name}: 100% accepted", burst.accepted == n, f"{burst.accepted}/{n}"),
        Budget(
            f"{name}: create p95 <= {CREATE_P95 * 1000:.0f} ms",
            burst.create_p95 <= CREATE_P95,
            fmt_ms(burst.create_p95),
        ),
        Budget(
            f"{name}: GET p95 <= {GET_P95 * 1000:.0f} ms",
            burst.get_p95 <= GET_P95,
            f"{fmt_ms(burst.get_p95)} (idle {percentile(alone.gets, 0.95) * 1000:.1f} ms)",
        ),
    ]
    if vs_idle:
        budgets.insert(
            3,
            Budget(
                f"{name}: create p95 <= {CREATE_VS_IDLE:g} x idle p95",
                burst.create_p95 <= CREATE_VS_IDLE * idle_p95,
                f"{fmt_ms(burst.create_p95)} vs idle {fmt_ms(idle_p95)} "
                f"(x{burst.create_p95 / idle_p95:.1f})",
            ),
        )
    return budgets


async def tests_phase(label: str, env: dict[str, str], opts: Options) -> list[Budget]:
    """Generated tests run: the ceiling from generations alone, then the burst."""
    ncores = len(os.sched_getaffinity(0))
    stack = Stack(env, keep=opts.keep)
    try:
        await stack.start()
        idle = await idle_cpu_rate(stack)
        alone = await single_runs(stack, opts.idle, opts.gets)
        per_gen = statistics.mean(alone.cpu)
        ceiling = ncores / per_gen
        print(
            f"  alone: {len(alone.cpu)} generations one at a time: CPU-seconds of the whole "
            f"tree per generation mean {per_gen:.2f} (min {min(alone.cpu):.2f}, max "
            f"{max(alone.cpu):.2f}); wall mean {statistics.mean(alone.wall):.2f} s; idle tree "
            f"{idle:.3f} CPU-s/s"
        )
        print(alone.idle_line())
        print(f"  ceiling: {ncores} cores / {per_gen:.2f} CPU-s = {ceiling:.2f} generations/s")
        sys.stdout.flush()
        cpu_before, roles_before = tree_cpu_seconds(stack), cpu_by_role(stack)
        burst = await run_burst(
            stack, label, opts.n, opts.c, opts.timeout, alone.last_id, opts.get_interval
        )
        burst_cpu = tree_cpu_seconds(stack) - cpu_before
        print("\n".join(burst.lines(alone)))
        print(cpu_split(stack, roles_before, burst.completed))
        ratio = burst.rate / ceiling
        print(
            f"  throughput {burst.rate:.2f}/s beside the ceiling {ceiling:.2f}/s: ratio "
            f"{ratio:.2f}; tree CPU during the burst "
            f"{burst_cpu:.0f} CPU-s = {burst_cpu / max(1, burst.completed):.2f} per completed "
            "generation"
        )
        return [
            *burst_budgets(label, burst, alone, opts.n, vs_idle=True),
            Budget(
                f"{label}: throughput >= {CEILING_SHARE:g} x ceiling",
                ratio >= CEILING_SHARE,
                f"{burst.rate:.2f}/s = {ratio:.2f} x {ceiling:.2f}/s",
            ),
        ]
    finally:
        await stack.stop()
        stack.cleanup()


async def no_tests_phase(label: str, env: dict[str, str], opts: Options) -> list[Budget]:
    """Generated code not run: the burst, then raw Temporal on the same dev server."""
    n, c = opts.n, opts.c
    stack = Stack({**env, "GENFLOW_RUN_GENERATED_CODE": "false"}, keep=opts.keep)
    try:
        await stack.start()
        alone = await single_runs(stack, opts.idle, opts.gets)
        print(alone.idle_line())
        roles_before = cpu_by_role(stack)
        burst = await run_burst(stack, label, n, c, opts.timeout, alone.last_id, opts.get_interval)
        print("\n".join(burst.lines(alone)))
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
        print(
            f"  genflow {burst.rate:.2f}/s beside raw Temporal {raw_rate:.2f}/s: ratio {ratio:.2f}"
        )
        return [
            *burst_budgets(label, burst, alone, n, vs_idle=False),
            Budget(
                f"{label}: >= {RAW_SHARE:g} x raw Temporal",
                ratio >= RAW_SHARE,
                f"{burst.rate:.2f}/s = {ratio:.2f} x {raw_rate:.2f}/s",
            ),
        ]
    finally:
        await stack.stop()
        stack.cleanup()


PHASES = {
    "tests": "SQLite read model, generated tests run",
    "tests-postgres": "PostgreSQL read model (fresh database), generated tests run",
    "notests": "SQLite read model, generated code not run, beside raw Temporal",
    "postgres": "PostgreSQL read model (fresh database), generated code not run, beside raw "
    "Temporal",
}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="generations per burst")
    parser.add_argument("--c", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated subset of {', '.join(PHASES)}"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per burst to finish")
    parser.add_argument("--keep", action="store_true", help="keep the stacks' home directories")
    parser.add_argument(
        "--idle", type=int, default=16, help="idle baseline: generations one at a time"
    )
    parser.add_argument("--gets", type=int, default=50, help="idle baseline: sequential GETs")
    parser.add_argument(
        "--get-interval",
        type=float,
        default=0.1,
        help="seconds between the GETs of one generation polled during the burst",
    )
    args = parser.parse_args()
    asked = set(args.phases.split(","))
    if asked - set(PHASES):
        parser.error(f"unknown phases {', '.join(sorted(asked - set(PHASES)))}")
    phases = [phase for phase in PHASES if phase in asked]
    n, c, ncores = args.n, args.c, len(os.sched_getaffinity(0))
    opts = Options(n, c, args.timeout, args.keep, args.idle, args.gets, args.get_interval)

    print(f"genflow burst benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  command: .venv/bin/python -m bench.burst {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"  machine: {ncores} CPU cores (shared), Python {sys.version.split()[0]}, load "
        f"{os.getloadavg()[0]:.1f}; genflow up, builtin provider, prompts over 3 templates"
    )
    print(
        f"  burst: {n} generations from {c} concurrent clients (one user, limits raised); "
        f"idle baseline per phase: {args.idle} generations one at a time, {args.gets} "
        f"sequential GETs; during the burst one more client GETs one generation every "
        f"{args.get_interval * 1000:.0f} ms"
    )
    budgets: list[Budget] = []
    for number, phase in enumerate(phases, start=1):
        print(f"\n[{number}] {phase}: {PHASES[phase]}")
        sys.stdout.flush()
        database = await create_database() if "postgres" in phase else None
        env = {**LIMITS, **({"DATABASE_URL": pg_url(database)} if database else {})}
        try:
            run = tests_phase if phase.startswith("tests") else no_tests_phase
            budgets += await run(phase, env, opts)
        finally:
            if database is not None:
                await drop_database(database)
        sys.stdout.flush()

    print("\nbudgets")
    for budget in budgets:
        print(f"  {'PASS' if budget.ok else 'FAIL'}  {budget.name:<48} {budget.measured}")
    failed = [b for b in budgets if not b.ok]
    print(f"{len(failed)} of {len(budgets)} budgets failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
