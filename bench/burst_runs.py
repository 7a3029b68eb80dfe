"""What `bench/burst.py` measures on a running stack: a burst of N generations from C
concurrent clients (completions, create latency, throughput, stage times, the CPU the
machine, the stack and this script spent, and the check against the read model and
Temporal), generations one at a time, and the CPU time of the stack's processes: the
whole tree, or split by role."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.checker import check, first_problems
from bench.genflow_http import Created, GenflowHttp, HttpStats
from bench.measure import percentile
from bench.procs import (
    descendants,
    machine_busy,
    orphan_cpu_seconds,
    own_cpu,
    process_cpu_seconds,
    process_cpu_split,
)
from bench.stack import Stack
from bench.workload import body

USER = "bench-burst"
SINGLE_USER = "bench-alone"  # the one-at-a-time runs, kept apart from the burst's
# A burst that completes nothing for this long is reported as stuck instead of waited on.
STALL_SECONDS = 120.0


def tree_cpu_seconds(stack: Stack) -> float:
    """CPU time of the whole tree so far: each live process's own plus that of the
    children it reaped, plus the orphans this process inherited (the sandboxed test
    runs under bubblewrap, see `bench/procs.py`)."""
    return sum(process_cpu_seconds(p) for p in stack.tree()) + orphan_cpu_seconds()


def cpu_by_role(stack: Stack) -> dict[str, float]:
    """CPU seconds so far per role: `worker` is the worker processes' own time;
    `sandbox` what they spawned (lint, tests: live descendants, reaped children and
    orphans); `api`, `temporal` their whole trees; `other` the rest (`genflow up`
    itself, and what it reaped)."""
    out = dict.fromkeys(("temporal", "worker", "sandbox", "api", "other"), 0.0)
    counted: set[int] = set()
    for role in ("temporal", "worker", "api"):
        for pid in stack.pids(role):
            counted.add(pid)
            own, reaped = process_cpu_split(pid)
            out[role] += own
            out["sandbox" if role == "worker" else role] += reaped
            for p in descendants(pid):
                counted.add(p)
                out["sandbox" if role == "worker" else role] += process_cpu_seconds(p)
    out["sandbox"] += orphan_cpu_seconds()
    out["other"] = sum(process_cpu_seconds(p) for p in stack.tree() if p not in counted)
    return out


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
    accepted: int = 0  # creates answered 2xx at the first attempt
    get_p50: float = 0.0  # GET of one generation, polled during the burst
    get_p95: float = 0.0
    gets: int = 0
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
            f"p95 {self.create_p95 * 1000:.0f} ms; accepted at the first attempt "
            f"{self.accepted} of {self.n}",
            f"  GET of one generation during the burst ({self.gets} polls): p50 "
            f"{self.get_p50 * 1000:.0f} ms, p95 {self.get_p95 * 1000:.0f} ms",
            f"  throughput: {self.rate:.2f} generations/s "
            f"({self.completed} completed in {self.seconds:.1f} s, first create to last "
            "completion)",
            f"  http: {self.stats.summary()}",
            f"  stages (mean over the finished): {self.stage_line}",
            f"  CPU during the burst: {self.machine_line}",
            f"  check: {self.check_line}",
            *(f"  not finished: {line}" for line in self.stuck),
        ]


async def poll_get(http: GenflowHttp, generation_id: str, stop: asyncio.Event) -> list[float]:
    """GET one generation every 100 ms (a client watching it closely) until `stop`:
    the latencies."""
    latencies: list[float] = []
    client = http.clients[0]
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get(f"/v1/generations/{generation_id}")
        if response.status_code == 200:
            latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.1)
    return latencies


async def run_burst(
    stack: Stack, label: str, n: int, c: int, timeout: float, watched: str
) -> Burst:
    """The burst, while one more client polls GET of `watched` (a generation that
    exists before it) until every generation of the burst has finished."""
    result = Burst(label, n)
    http = GenflowHttp([stack.api_url], USER, result.stats)
    reader = GenflowHttp([stack.api_url], SINGLE_USER, HttpStats())
    since = datetime.now(UTC) - timedelta(seconds=1)
    todo = list(range(n))
    stop_polling = asyncio.Event()
    poller = asyncio.create_task(poll_get(reader, watched, stop_polling))

    async def client() -> None:
        while todo:
            i = todo.pop(0)
            created = Created(index=i, key=None, user=USER, api=0)
            result.requests.append(created)
            await http.create(body(i), created, give_up_after=120)

    try:
        machine_before, tree_before, own_before = machine_busy(), tree_cpu_seconds(stack), own_cpu()
        first = time.time()
        await asyncio.gather(*(client() for _ in range(c)))
        ids = [r.id for r in result.requests if r.id is not None]
        finished = await http.wait_terminal(ids, since, timeout, stall=STALL_SECONDS)
        stop_polling.set()
        gets = await poller
        result.gets = len(gets)
        result.get_p50, result.get_p95 = percentile(gets, 0.50), percentile(gets, 0.95)
        wall = time.time() - first
        tree = (tree_cpu_seconds(stack) - tree_before) / wall
        own = (own_cpu() - own_before) / wall
        machine = (machine_busy() - machine_before) / wall
        result.machine_line = (
            f"the machine {machine:.2f} cores busy: genflow's tree {tree:.2f}, this script "
            f"{own:.2f}, other processes {max(0.0, machine - tree - own):.2f}"
        )
        result.stage_line = stage_summary(list(finished.values()))
        latencies = [r.latency for r in result.requests if r.id is not None]
        result.create_p50 = percentile(latencies, 0.50)
        result.create_p95 = percentile(latencies, 0.95)
        result.accepted = sum(1 for r in result.requests if r.id is not None and r.attempts == 1)
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
        stop_polling.set()
        if not poller.done():
            poller.cancel()
        await http.aclose()
        await reader.aclose()
    return result


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


@dataclass
class Alone:
    """Generations one at a time, on an otherwise idle stack."""

    cpu: list[float]  # CPU-seconds of the whole tree per generation
    wall: list[float]  # seconds per generation
    creates: list[float]  # create latency
    gets: list[float]  # latency of GET of one generation, sequential
    last_id: str  # the last one's id

    def idle_line(self) -> str:
        return (
            f"  idle baseline: create p50 {percentile(self.creates, 0.5) * 1000:.0f} ms, p95 "
            f"{percentile(self.creates, 0.95) * 1000:.0f} ms ({len(self.creates)} creates one "
            f"at a time); GET p50 {percentile(self.gets, 0.5) * 1000:.1f} ms, p95 "
            f"{percentile(self.gets, 0.95) * 1000:.1f} ms ({len(self.gets)} sequential)"
        )


async def single_runs(stack: Stack, runs: int, gets: int = 50) -> Alone:
    """One warm-up, then `runs` generations one at a time (one per prompt of the mix),
    each waited for; then `gets` sequential GETs of the last one."""
    stats = HttpStats()
    http = GenflowHttp([stack.api_url], SINGLE_USER, stats)
    alone = Alone([], [], [], [], "")
    try:
        for i in range(-1, runs):
            await asyncio.sleep(1.0)  # let the previous one's tail (workflow close) settle
            before, started = tree_cpu_seconds(stack), time.perf_counter()
            created = await http.create(
                body(max(i, 0)), Created(index=i, key=None, user=SINGLE_USER, api=0)
            )
            if created.id is None:
                raise RuntimeError(f"create failed: {created.error}")
            alone.last_id = created.id
            row = await http.finished(created.id)
            if row["status"] != "completed":
                raise RuntimeError(f"the single generation ended {row['status']}: {row['error']}")
            if i >= 0:
                alone.cpu.append(tree_cpu_seconds(stack) - before)
                alone.wall.append(time.perf_counter() - started)
                alone.creates.append(created.latency)
        await asyncio.sleep(1.0)
        for _ in range(gets):
            started = time.perf_counter()
            response = await http.clients[0].get(f"/v1/generations/{alone.last_id}")
            if response.status_code == 200:
                alone.gets.append(time.perf_counter() - started)
    finally:
        await http.aclose()
    return alone


async def idle_cpu_rate(stack: Stack, seconds: float = 3.0) -> float:
    before = tree_cpu_seconds(stack)
    await asyncio.sleep(seconds)
    return (tree_cpu_seconds(stack) - before) / seconds


def cpu_split(stack: Stack, before: dict[str, float], completed: int) -> str:
    """CPU-seconds per completed generation during the burst, by process role."""
    after = cpu_by_role(stack)
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
