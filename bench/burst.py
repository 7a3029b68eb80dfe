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
`bench/api.py` does not shadow the `api` package). Exits 1 if a budget fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.stack import (
    Created,
    GenflowHttp,
    HttpStats,
    Stack,
    body,
    check,
    cores,
    create_database,
    drop_database,
    first_problems,
    now_utc,
    percentile,
    pg_url,
)

USER = "bench-burst"
SINGLE_USER = "bench-alone"  # the one-at-a-time runs, kept apart from the burst's
# A burst that completes nothing for this long is reported as stuck instead of waited on.
STALL_SECONDS = 120.0
LIMITS = {"GENFLOW_MAX_ACTIVE_PER_USER": "1000000", "GENFLOW_MAX_CREATES_PER_MINUTE": "1000000"}


# -- raw Temporal: four no-op activities --------------------------------------------------


@activity.defn
async def noop_one() -> None:
    return None


@activity.defn
async def noop_two() -> None:
    return None


@activity.defn
async def noop_three() -> None:
    return None


@activity.defn
async def noop_four() -> None:
    return None


@workflow.defn
class NoopWorkflow:
    """Four no-op activities in order: what Temporal itself costs per generation."""

    @workflow.run
    async def run(self) -> None:
        for step in (noop_one, noop_two, noop_three, noop_four):
            await workflow.execute_activity(step, start_to_close_timeout=timedelta(seconds=30))


async def raw_temporal(address: str, n: int, c: int) -> tuple[float, float]:
    """N NoopWorkflows from C concurrent starters; (workflows/s, seconds)."""
    client = await Client.connect(address)
    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[NoopWorkflow],
        activities=[noop_one, noop_two, noop_three, noop_four],
        # The default sandbox, with this module (and what it imports) passed through.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("bench")
        ),
    )
    todo = list(range(n))
    handles = []

    async def starter() -> None:
        while todo:
            todo.pop()
            handles.append(
                await client.start_workflow(
                    NoopWorkflow.run, id=f"raw-{uuid.uuid4()}", task_queue=queue
                )
            )

    async with worker:
        started = time.perf_counter()
        await asyncio.gather(*(starter() for _ in range(c)))
        await asyncio.gather(*(h.result() for h in handles))
        seconds = time.perf_counter() - started
    return n / seconds, seconds


# -- genflow ------------------------------------------------------------------------------


@dataclass
class Burst:
    label: str
    n: int
    requests: list[Created] = field(default_factory=list)
    stats: HttpStats = field(default_factory=HttpStats)
    completed: int = 0
    failed: int = 0
    other: int = 0
    create_p50: float = 0.0
    create_p95: float = 0.0
    rate: float = 0.0
    seconds: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)
    check_line: str = ""
    stage_line: str = ""
    machine_line: str = ""
    stuck: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"  generations: {self.n}: completed {self.completed}, failed {self.failed}, "
            f"other {self.other}"
            + (f"; failure codes {dict(self.failures)}" if self.failures else ""),
            f"  create latency during the burst: p50 {self.create_p50 * 1000:.0f} ms, "
            f"p95 {self.create_p95 * 1000:.0f} ms",
            f"  throughput: {self.rate:.2f} generations/s "
            f"({self.completed} completed in {self.seconds:.1f} s, first create to last "
            "completion)",
            f"  http: {self.stats.summary()}",
            f"  stages (mean over the finished): {self.stage_line}",
            f"  CPU during the burst: {self.machine_line}",
            f"  check: {self.check_line}",
            *(f"  not finished: {line}" for line in self.stuck),
        ]


async def run_burst(stack: Stack, label: str, n: int, c: int, timeout: float) -> Burst:
    result = Burst(label, n)
    http = GenflowHttp([stack.api_url], USER, result.stats)
    since = now_utc() - timedelta(seconds=1)
    todo = list(range(n))

    async def client() -> None:
        while todo:
            i = todo.pop(0)
            created = Created(index=i, key=None, user=USER, api=0)
            result.requests.append(created)
            await http.create(body(i), created, give_up_after=120)

    try:
        machine_before, tree_before, own_before = machine_busy(), stack.cpu_seconds(), own_cpu()
        first = time.time()
        await asyncio.gather(*(client() for _ in range(c)))
        ids = [r.id for r in result.requests if r.id is not None]
        finished = await http.wait_terminal(ids, since, timeout, stall=STALL_SECONDS)
        wall = time.time() - first
        tree = (stack.cpu_seconds() - tree_before) / wall
        own = (own_cpu() - own_before) / wall
        machine = (machine_busy() - machine_before) / wall
        result.machine_line = (
            f"the machine {machine:.2f} cores busy: genflow's tree {tree:.2f}, this script "
            f"{own:.2f}, other processes {max(0.0, machine - tree - own):.2f}"
        )
        result.stage_line = stage_summary(list(finished.values()))
        latencies = [r.latency for r in result.requests if r.id is not None]
        result.create_p50 = percentile(latencies, 50)
        result.create_p95 = percentile(latencies, 95)
        done_at: list[float] = []
        for item in finished.values():
            if item["status"] == "completed":
                result.completed += 1
                done_at.append(_epoch(item["completed_at"]))
            elif item["status"] == "failed":
                result.failed += 1
                result.failures[(item.get("error") or {}).get("code", "?")] += 1
        result.other = n - result.completed - result.failed
        for gid in [i for i in ids if i not in finished][:5]:
            row = await http.get(gid)
            stages = ", ".join(
                f"{st['name']} {st['status']} x{st['attempts']}"
                for st in (row or {}).get("stages", [])
            )
            result.stuck.append(f"{gid} {(row or {}).get('status')}: {stages}")
        if done_at:
            result.seconds = max(done_at) - first
            result.rate = result.completed / result.seconds
        checked = await check(
            result.requests, {USER: http}, stack.database_url, stack.temporal_address, settle=15
        )
        result.check_line = (
            f"lost {checked.lost}, duplicated {checked.duplicated}, rows that disagree with "
            f"Temporal or the API {checked.disagreements}"
        )
        for problem in first_problems(checked.problems, 5):
            result.check_line += f"\n    {problem}"
    finally:
        await http.aclose()
    return result


def machine_busy() -> float:
    """CPU-seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage_summary(items: list[dict[str, Any]]) -> str:
    """Mean run and queue time of each stage, and how many attempts were retries."""
    runs: dict[str, list[float]] = {}
    queued: dict[str, list[float]] = {}
    retries: Counter[str] = Counter()
    for item in items:
        for stage in item.get("stages", []):
            name = stage["name"]
            if stage.get("duration_ms") is not None:
                runs.setdefault(name, []).append(stage["duration_ms"] / 1000)
            if stage.get("queue_ms") is not None:
                queued.setdefault(name, []).append(stage["queue_ms"] / 1000)
            retries[name] += max(0, (stage.get("attempts") or 1) - 1)
    parts = []
    for name, seconds in runs.items():
        waits = queued.get(name)
        part = f"{name} {statistics.mean(seconds):.2f} s"
        if waits:
            part += f" (queued {statistics.mean(waits):.2f} s)"
        if retries[name]:
            part += f" [{retries[name]} retries]"
        parts.append(part)
    return ", ".join(parts) or "-"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def single_runs(stack: Stack, runs: int) -> tuple[list[float], list[float]]:
    """One warm-up, then `runs` generations one at a time (one per prompt of the mix):
    (CPU-seconds of the whole tree per generation, wall seconds per generation)."""
    stats = HttpStats()
    http = GenflowHttp([stack.api_url], SINGLE_USER, stats)
    cpu: list[float] = []
    wall: list[float] = []
    try:
        for i in range(-1, runs):
            await asyncio.sleep(1.0)  # let the previous one's tail (workflow close) settle
            before, started = stack.cpu_seconds(), time.perf_counter()
            created = await http.create(
                body(max(i, 0)), Created(index=i, key=None, user=SINGLE_USER, api=0)
            )
            if created.id is None:
                raise RuntimeError(f"create failed: {created.error}")
            while True:
                row = await http.get(created.id)
                if row is not None and row["status"] in ("completed", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.2)
            if row["status"] != "completed":
                raise RuntimeError(f"the single generation ended {row['status']}: {row['error']}")
            if i >= 0:
                cpu.append(stack.cpu_seconds() - before)
                wall.append(time.perf_counter() - started)
    finally:
        await http.aclose()
    return cpu, wall


async def idle_cpu_rate(stack: Stack, seconds: float = 3.0) -> float:
    before = stack.cpu_seconds()
    await asyncio.sleep(seconds)
    return (stack.cpu_seconds() - before) / seconds


def cpu_split(stack: Stack, before: dict[str, float], completed: int) -> str:
    """CPU-seconds per completed generation during the burst, by process role."""
    after = stack.cpu_by_role()
    labels = {
        "worker": "worker",
        "sandbox": "worker's subprocesses (tests, lint)",
        "api": "api",
        "temporal": "temporal",
        "other": "genflow up",
    }
    parts = [
        f"{label} {(after[role] - before[role]) / max(1, completed):.3f}"
        for role, label in labels.items()
    ]
    return "  CPU-s per completed generation by process: " + ", ".join(parts)


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
    n, c, ncores = args.n, args.c, cores()

    print(f"genflow burst benchmark, {now_utc():%Y-%m-%d %H:%M} UTC")
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
            cpu_before, roles_before = stack.cpu_seconds(), stack.cpu_by_role()
            burst = await run_burst(stack, "tests", n, c, args.timeout)
            burst_cpu = stack.cpu_seconds() - cpu_before
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
            roles_before = stack.cpu_by_role()
            burst = await run_burst(stack, "notests", n, c, args.timeout)
            print("\n".join(burst.lines()))
            print(cpu_split(stack, roles_before, burst.completed))
            server_before, self_before = stack.cpu_by_role()["temporal"], own_cpu()
            raw_rate, raw_seconds = await raw_temporal(stack.temporal_address, n, c)
            server_cpu = (stack.cpu_by_role()["temporal"] - server_before) / n
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
            roles_before = stack.cpu_by_role()
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
