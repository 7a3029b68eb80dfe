"""Burst benchmark: N generations from C concurrent clients against a real `genflow up`
(builtin provider), measured against a ceiling taken in the same run.

Four phases, each on its own stack: `tests` (SQLite, the embedded default, generated
tests run), `tests-postgres` (the same on PostgreSQL, a fresh database dropped
afterwards), `notests` and `postgres` (GENFLOW_RUN_GENERATED_CODE=false on SQLite and on
PostgreSQL).

- Idle baseline, from the same stack before its burst: 10 generations one at a time,
  each waited for (their create latency, and with tests the CPU-seconds of the whole
  process tree: Temporal dev server, worker, API, sandboxed test runs -> ceiling = CPU
  cores / CPU-seconds per generation), then 50 sequential GETs of one generation.
- The burst: completed/failed/other, creates accepted at the first attempt (no 429/503),
  create latency p50/p95, the latency of GET of one generation polled by one more
  client during the whole burst, generations/s (first create to last completion) and
  its ratio to the ceiling; without tests, raw Temporal on the same dev server (a
  workflow of four no-op activities, an in-script worker on its own task queue, N
  workflows from C concurrent starters) and genflow's rate / raw Temporal's.
- Budgets (issue 19): 100% completed and accepted; create p95 <= 250 ms and <= 3 x the
  idle p95; GET p95 <= 100 ms; with tests >= 0.8 x the ceiling, without >= 0.5 x raw
  Temporal.

Every phase's generations are then checked against the read model and Temporal.
Run: `.venv/bin/python -m bench.burst [--n 200] [--c 16] [--phases tests,postgres]`
(as a module, so that
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


def burst_budgets(name: str, burst: Burst, alone: Alone, n: int) -> list[Budget]:
    """What every burst must show: all completed and accepted at once, creates and a
    GET fast during it, against the idle baseline of the same stack."""
    idle_p95 = percentile(alone.creates, 0.95)
    return [
        Budget(f"{name}: 100% completed", burst.completed == n, f"{burst.completed}/{n}"),
        Budget(f"{name}: 100% accepted", burst.accepted == n, f"{burst.accepted}/{n}"),
        Budget(
            f"{name}: create p95 <= {CREATE_P95 * 1000:.0f} ms",
            burst.create_p95 <= CREATE_P95,
            fmt_ms(burst.create_p95),
        ),
        Budget(
            f"{name}: create p95 <= {CREATE_VS_IDLE:g} x idle p95",
            burst.create_p95 <= CREATE_VS_IDLE * idle_p95,
            f"{fmt_ms(burst.create_p95)} vs idle {fmt_ms(idle_p95)} "
            f"(x{burst.create_p95 / idle_p95:.1f})",
        ),
        Budget(
            f"{name}: GET p95 <= {GET_P95 * 1000:.0f} ms",
            burst.get_p95 <= GET_P95,
            f"{fmt_ms(burst.get_p95)} (idle {percentile(alone.gets, 0.95) * 1000:.1f} ms)",
        ),
    ]


async def tests_phase(
    label: str, env: dict[str, str], n: int, c: int, timeout: float, keep: bool
) -> list[Budget]:
    """Generated tests run: the ceiling from generations alone, then the burst."""
    ncores = len(os.sched_getaffinity(0))
    stack = Stack(env, keep=keep)
    try:
        await stack.start()
        idle = await idle_cpu_rate(stack)
        alone = await single_runs(stack, 10)
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
        burst = await run_burst(stack, label, n, c, timeout, alone.last_id)
        burst_cpu = tree_cpu_seconds(stack) - cpu_before
        print("\n".join(burst.lines()))
        print(cpu_split(stack, roles_before, burst.completed))
        ratio = burst.rate / ceiling
        print(
            f"  ratio to the ceiling: {ratio:.2f}; tree CPU during the burst "
            f"{burst_cpu:.0f} CPU-s = {burst_cpu / max(1, burst.completed):.2f} per completed "
            "generation"
        )
        return [
            *burst_budgets(label, burst, alone, n),
            Budget(
                f"{label}: throughput >= {CEILING_SHARE:g} x ceiling",
                ratio >= CEILING_SHARE,
                f"{burst.rate:.2f}/s = {ratio:.2f} x {ceiling:.2f}/s",
            ),
        ]
    finally:
        await stack.stop()
        stack.cleanup()


async def no_tests_phase(
    label: str, env: dict[str, str], n: int, c: int, timeout: float, keep: bool
) -> list[Budget]:
    """Generated code not run: the burst, then raw Temporal on the same dev server."""
    stack = Stack({**env, "GENFLOW_RUN_GENERATED_CODE": "false"}, keep=keep)
    try:
        await stack.start()
        alone = await single_runs(stack, 10)
        print(alone.idle_line())
        roles_before = cpu_by_role(stack)
        burst = await run_burst(stack, label, n, c, timeout, alone.last_id)
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
        return [
            *burst_budgets(label, burst, alone, n),
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
    args = parser.parse_args()
    phases = [phase for phase in PHASES if phase in set(args.phases.split(","))]
    n, c, ncores = args.n, args.c, len(os.sched_getaffinity(0))

    print(f"genflow burst benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  command: .venv/bin/python -m bench.burst {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"  machine: {ncores} CPU cores (shared), Python {sys.version.split()[0]}, load "
        f"{os.getloadavg()[0]:.1f}; genflow up, builtin provider, prompts over 3 templates"
    )
    print(f"  burst: {n} generations from {c} concurrent clients (one user, limits raised)")
    budgets: list[Budget] = []
    for number, phase in enumerate(phases, start=1):
        print(f"\n[{number}] {phase}: {PHASES[phase]}")
        sys.stdout.flush()
        database = await create_database() if "postgres" in phase else None
        env = {**LIMITS, **({"DATABASE_URL": pg_url(database)} if database else {})}
        try:
            run = tests_phase if phase.startswith("tests") else no_tests_phase
            budgets += await run(phase, env, n, c, args.timeout, args.keep)
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
