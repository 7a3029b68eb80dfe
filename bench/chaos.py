"""Chaos runs: generations from several concurrent clients against a real `genflow up`
on PostgreSQL (a fresh database per scenario) while processes are SIGKILLed or the
database is cut off; then every generation is checked against the API, the read model
and Temporal.

Scenarios (`--scenario NAME`, repeatable; default all):

- worker-kill:      the worker SIGKILLed 10 times at random moments;
- api-kill:         the API SIGKILLed during the creates, clients retrying under their
                    Idempotency-Key (every logical request ends with one generation);
- temporal-kill:    the Temporal dev server SIGKILLed (twice; `genflow up` restarts it on
                    its SQLite file);
- postgres-outage:  PostgreSQL unreachable for 10 s: genflow reaches it through a
                    loopback TCP proxy in this script that drops every connection and
                    refuses new ones for 10 s (the shared server is never restarted);
- stack-kill:       the whole process tree SIGKILLed, then `genflow up` restarted on the
                    same home;
- scale-out:        3 worker processes and 2 API processes sharing the read model,
                    clients spread over both APIs, the workers killed in turn.
- operator:         an operator's Terminate, Cancel and Reset (FirstWorkflowTask, through
                    the `temporal` CLI) on random generations while they run (reset:
                    once they completed): each must end as the operator made it
                    (terminated: failed `terminated`; cancelled; reset: completed again),
                    with 0 disagreements with Temporal.

Every logical request carries an Idempotency-Key and is retried on connection errors,
503, 429, 409 and 500 with the same key. Per scenario it prints created, completed,
failed, lost, duplicated, rows that disagree with Temporal, HTTP 500s and the time to
recover (fault to the first completion after it). Budgets: 0 failed, 0 unfinished,
0 lost, 0 duplicated, 0 disagreements, 0 HTTP 500; exit 1 if any fails.

Run: `.venv/bin/python -m bench.chaos [--scenario worker-kill] [--generations 30]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.stack import (
    PG_HOST,
    PG_PORT,
    CheckResult,
    Created,
    GenflowHttp,
    HttpStats,
    Stack,
    body,
    check,
    create_database,
    drop_database,
    first_problems,
    free_port,
    now_utc,
    pg_url,
    recovery_times,
)

TEMPORAL = str(Path(sys.executable).parent / "temporal")
LIMITS = {"GENFLOW_MAX_ACTIVE_PER_USER": "1000000", "GENFLOW_MAX_CREATES_PER_MINUTE": "1000000"}


class TcpProxy:
    """A loopback TCP proxy to PostgreSQL that can cut every connection and refuse new
    ones for a while (the listening socket is closed: connects get ECONNREFUSED)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = {writer, up_writer}
        self.writers |= pair
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in pair:
                w.transport.abort()
            self.writers -= pair

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()

    async def outage(self, seconds: float) -> None:
        """Drop every connection and refuse new ones for `seconds`."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await asyncio.sleep(seconds)
        await self.start()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()


@dataclass
class Run:
    """What a fault injector sees and records."""

    stack: Stack
    started: float  # time.time() when the load began
    proxy: TcpProxy | None = None
    faults: list[float] = field(default_factory=list)  # epoch seconds
    requests: list[Created] = field(default_factory=list)  # the load's, as they come
    https: dict[str, GenflowHttp] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load_done: asyncio.Event = field(default_factory=asyncio.Event)

    def at(self) -> str:
        return f"+{time.time() - self.started:.1f} s"

    def fault(self, what: str) -> None:
        self.faults.append(time.time())
        self.notes.append(f"{self.at()} {what}")

    async def sleep_or_done(self, seconds: float) -> bool:
        """Sleep; True if the load finished meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.load_done.wait(), seconds)
        return self.load_done.is_set()


async def _wait_alive(run: Run, role: str, timeout: float = 90.0) -> float:
    started = time.monotonic()
    while not run.stack.pids(role):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"no {role} for {timeout} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def worker_kill(run: Run) -> None:
    """10 kills, each after the (restarted) worker has lived a random 1.5-4.5 s."""
    waits: list[float] = []
    while len(run.faults) < 10:
        waits.append(await _wait_alive(run, "worker"))
        if await run.sleep_or_done(random.uniform(1.5, 4.5)):
            break
        pid = run.stack.kill("worker")
        if pid is not None:
            run.fault(f"SIGKILL worker {pid}")
    run.notes.append(
        f"{len(run.faults)} worker kills; waited up to {max(waits):.1f} s for genflow up to "
        f"restart the worker (waits: {', '.join(f'{w:.1f}' for w in waits)})"
    )


async def api_kill(run: Run) -> None:
    moments = sorted(random.uniform(0.5, 12) for _ in range(3))
    for moment in moments:
        await asyncio.sleep(max(0.0, run.started + moment - time.time()))
        await _wait_alive(run, "api")
        pid = run.stack.kill("api")
        run.fault(f"SIGKILL api {pid}")


async def temporal_kill(run: Run) -> None:
    first = random.uniform(3, 8)
    for moment in (first, first + random.uniform(8, 14)):
        await asyncio.sleep(max(0.0, run.started + moment - time.time()))
        if run.load_done.is_set():
            return
        await _wait_alive(run, "temporal")
        pid = run.stack.kill("temporal")
        run.fault(f"SIGKILL temporal dev server {pid}")


async def postgres_outage(run: Run) -> None:
    assert run.proxy is not None
    await asyncio.sleep(max(0.0, run.started + random.uniform(5, 8) - time.time()))
    run.fault(f"PostgreSQL unreachable for 10 s ({run.proxy.connections} proxied connections)")
    await run.proxy.outage(10)
    run.notes.append(f"{run.at()} PostgreSQL reachable again")


async def stack_kill(run: Run) -> None:
    await asyncio.sleep(max(0.0, run.started + random.uniform(6, 10) - time.time()))
    run.stack.kill_all()
    run.fault("SIGKILL the whole stack")
    await asyncio.sleep(2)
    started = time.monotonic()
    await run.stack.restart()
    run.notes.append(
        f"{run.at()} genflow up restarted on the same home in {time.monotonic() - started:.1f} s"
    )


def temporal_cli(run: Run, *args: str) -> bool:
    """`temporal workflow ...` against the stack's server, as an operator would; False
    when Temporal refused it (the workflow closed meanwhile)."""
    done = subprocess.run(
        [TEMPORAL, "workflow", *args, "--address", run.stack.temporal_address],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


async def operator(run: Run) -> None:
    """Terminate 4 and cancel 3 random generations while they run, then reset 3 that
    completed; each Created records what was done to it."""
    acted: set[str] = set()

    async def pick(status: set[str], count: int, action: str) -> list[Created]:
        chosen: list[Created] = []
        deadline = time.monotonic() + 90
        while len(chosen) < count and time.monotonic() < deadline:
            for request in list(run.requests):
                if request.id is None or request.id in acted or len(chosen) >= count:
                    continue
                found = await run.https[request.user].get(request.id)
                if isinstance(found, dict) and found.get("status") in status:
                    acted.add(request.id)
                    request.operator = action
                    chosen.append(request)
            await asyncio.sleep(0.3)
        return chosen

    await asyncio.sleep(3)
    actions = {
        "terminate": ["terminate", "--reason", "chaos operator"],
        "cancel": ["cancel"],
        "reset": ["reset", "--type", "FirstWorkflowTask", "--reason", "chaos operator"],
    }
    for action, status, count in (
        ("terminate", "processing", 4),
        ("cancel", "processing", 3),
        ("reset", "completed", 3),
    ):
        for request in await pick({status}, count, action):
            command, *options = actions[action]
            workflow = f"gen-{request.id}"
            if await asyncio.to_thread(
                temporal_cli, run, command, "--workflow-id", workflow, *options
            ):
                run.fault(f"{action} {workflow}")
            else:  # it closed before the operator got to it
                request.operator = None
    run.notes.append(
        "operator: " + ", ".join(f"{r.operator} {r.id}" for r in run.requests if r.operator)
    )


EXPECTED_AFTER = {"terminate": ("failed", "terminated"), "cancel": ("cancelled", None)}


async def scale_out(run: Run) -> None:
    """The workers killed in turn (lowest pid first), one every 3-6 s, 6 kills."""
    for turn in range(6):
        if await run.sleep_or_done(random.uniform(3, 6)):
            break
        await _wait_alive(run, "worker")
        workers = sorted(run.stack.pids("worker"))
        pid = run.stack.kill("worker", workers[turn % len(workers)])
        run.fault(f"SIGKILL worker {pid} ({len(workers)} alive)")


@dataclass
class Scenario:
    name: str
    title: str
    fault: Callable[[Run], Coroutine[Any, Any, None]] | None
    workers: int = 1
    extra_apis: int = 0
    proxy: bool = False
    create_window: float = 8.0  # creates spread over this many seconds
    implemented: bool = True


SCENARIOS = [
    Scenario("worker-kill", "the worker SIGKILLed 10 times at random moments", worker_kill),
    Scenario(
        "api-kill",
        "the API SIGKILLed 3 times during the creates (Idempotency-Key retries)",
        api_kill,
        create_window=14.0,
    ),
    Scenario("temporal-kill", "the Temporal dev server SIGKILLed twice", temporal_kill),
    Scenario(
        "postgres-outage",
        "PostgreSQL unreachable for 10 s (loopback TCP proxy drops and refuses)",
        postgres_outage,
        proxy=True,
        create_window=14.0,
    ),
    Scenario(
        "stack-kill",
        "the whole stack SIGKILLed and restarted on its home",
        stack_kill,
        create_window=14.0,
    ),
    Scenario(
        "scale-out",
        "3 workers and 2 APIs on one read model, clients over both, workers killed in turn",
        scale_out,
        workers=3,
        extra_apis=1,
    ),
    Scenario(
        "operator",
        "an operator's Terminate, Cancel and Reset on random generations (temporal CLI)",
        operator,
        create_window=14.0,
    ),
]


@dataclass
class Outcome:
    scenario: Scenario
    checked: CheckResult
    stats: HttpStats
    notes: list[str]
    recovery: list[float | None]
    seconds: float
    unfinished: int
    evidence: list[str]
    # (failed as the operator made them, unexpected ends, cancelled by the operator)
    operator: tuple[int, int, int] = (0, 0, 0)

    @property
    def budgets(self) -> dict[str, int]:
        c = self.checked
        return {
            "failed": c.failed - self.operator[0],
            "cancelled": c.cancelled - self.operator[2],
            "not as the operator made them": self.operator[1],
            "unfinished": self.unfinished,
            "lost": c.lost,
            "duplicated": c.duplicated,
            "disagreements": c.disagreements,
            "HTTP 500": self.stats.codes[500],
        }

    @property
    def ok(self) -> bool:
        return not any(self.budgets.values())


async def run_scenario(
    scenario: Scenario, n: int, clients: int, run_tests: bool, timeout: float, keep: bool
) -> Outcome:
    assert scenario.fault is not None
    database = await create_database("genflow_chaos")
    direct_url = pg_url(database)
    proxy: TcpProxy | None = None
    if scenario.proxy:
        proxy = TcpProxy(PG_HOST, PG_PORT)
        await proxy.start()
    env = {
        **LIMITS,
        "DATABASE_URL": pg_url(database, proxy.port) if proxy else direct_url,
        "GENFLOW_RUN_GENERATED_CODE": "true" if run_tests else "false",
    }
    stack = Stack(env, workers=scenario.workers, extra_apis=scenario.extra_apis, keep=True)
    stats = HttpStats()
    https: dict[str, GenflowHttp] = {}
    requests: list[Created] = []
    started = time.monotonic()
    outcome: Outcome | None = None
    try:
        await stack.start()
        run_id = uuid.uuid4().hex[:6]
        users = [f"chaos-{scenario.name}-{k}" for k in range(clients)]
        https = {u: GenflowHttp(stack.api_urls, u, stats) for u in users}
        since = now_utc() - timedelta(seconds=1)
        run = Run(stack, time.time(), proxy, requests=requests, https=https)
        per_client = max(1, n // clients)

        async def client(k: int) -> None:
            user = users[k]
            mine = [i for i in range(n) if i % clients == k]
            for i in mine:
                await asyncio.sleep(random.uniform(0, 2 * scenario.create_window / per_client))
                created = Created(index=i, key=f"{run_id}-{i}", user=user, api=k)
                requests.append(created)
                await https[user].create(body(i), created, give_up_after=150)
            ids = [r.id for r in requests if r.user == user and r.id is not None]
            await https[user].wait_terminal(ids, since, timeout)

        injector = asyncio.create_task(scenario.fault(run))
        await asyncio.gather(*(client(k) for k in range(clients)))
        run.load_done.set()
        try:
            await asyncio.wait_for(asyncio.shield(injector), 120)
        except TimeoutError:
            injector.cancel()
            run.notes.append("the fault injector was still running when the load ended")
        if injector.done() and not injector.cancelled() and injector.exception():
            run.notes.append(f"fault injector error: {injector.exception()!r}")
        await stack.wait_roles()
        resets = {r.id: 1 for r in requests if r.id and r.operator == "reset"}
        checked = await check(
            requests, https, direct_url, stack.temporal_address, 30, allowed_runs=resets
        )
        expected_failed = await operator_outcomes(requests, https, run.notes)
        evidence: list[str] = []
        if checked.failed or stats.codes[500]:
            evidence = [line[:400] for line in stack.log_lines('"level": "error"')[:4]]
        outcome = Outcome(
            scenario,
            checked,
            stats,
            run.notes,
            recovery_times(run.faults, checked.completed_at),
            time.monotonic() - started,
            checked.other,  # rows not completed, failed or cancelled by the end
            evidence,
            expected_failed,
        )
        return outcome
    finally:
        for http in https.values():
            await http.aclose()
        await stack.stop()
        if proxy is not None:
            await proxy.stop()
        await drop_database(database)
        kept = keep or outcome is None or not outcome.ok
        stack.keep = kept
        stack.cleanup()
        print(f"  home {stack.home} ({'kept: logs in logs/' if kept else 'removed'})")


async def operator_outcomes(
    requests: list[Created], https: dict[str, GenflowHttp], notes: list[str]
) -> tuple[int, int, int]:
    """(generations failed because an operator terminated them, generations whose end
    is not what the operator's action makes it, generations the operator cancelled),
    from the API."""
    terminated = unexpected = cancelled = 0
    for request in requests:
        if request.operator is None or request.id is None:
            continue
        found = await https[request.user].get(request.id)
        status = found.get("status")
        code = (found.get("error") or {}).get("code")
        want = EXPECTED_AFTER.get(request.operator, ("completed", None))
        if (status, code) == want:
            terminated += request.operator == "terminate"
            cancelled += request.operator == "cancel"
        else:
            unexpected += 1
            notes.append(f"{request.operator} {request.id}: ended {status} {code}, not {want}")
    return terminated, unexpected, cancelled


def report(outcome: Outcome) -> None:
    c, s = outcome.checked, outcome.stats
    for note in outcome.notes:
        print(f"  {note}")
    print(
        f"  requests {c.requests}: created {c.created}, completed {c.completed}, failed "
        f"{c.failed}, cancelled {c.cancelled}, unfinished {outcome.unfinished}, lost "
        f"{c.lost}, duplicated {c.duplicated}, disagree with Temporal/API "
        f"{c.disagreements}, HTTP 500 {s.codes[500]}"
    )
    if c.failures:
        print(f"  failure codes: {dict(c.failures)}")
    print(f"  http: {s.summary()}")
    known = [r for r in outcome.recovery if r is not None]
    shown = ", ".join("never" if r is None else f"{r:.1f}" for r in outcome.recovery)
    if known:
        print(
            f"  time to recover (fault to next completion): max {max(known):.1f} s, median "
            f"{statistics.median(known):.1f} s; per fault: {shown}"
        )
    else:
        print(f"  time to recover: {shown or 'no fault injected'}")
    for problem in first_problems(c.problems, 6):
        print(f"  problem: {problem}")
    for line in outcome.evidence:
        print(f"  log: {line}")
    verdict = "PASS" if outcome.ok else "FAIL"
    bad = ", ".join(f"{k} {v}" for k, v in outcome.budgets.items() if v)
    print(f"  {verdict} ({outcome.seconds:.0f} s){': ' + bad if bad else ''}")


async def main() -> int:
    names = [s.name for s in SCENARIOS]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", action="append", choices=names, help="run only this one (repeatable)"
    )
    parser.add_argument("--generations", type=int, default=30, help="logical requests each")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients")
    parser.add_argument(
        "--no-tests", action="store_true", help="GENFLOW_RUN_GENERATED_CODE=false (faster)"
    )
    parser.add_argument(
        "--timeout", type=float, default=240, help="seconds per scenario for the generations"
    )
    parser.add_argument("--keep", action="store_true", help="keep every home (logs)")
    args = parser.parse_args()
    chosen = (
        [s for s in SCENARIOS if s.name in args.scenario]
        if args.scenario
        else [s for s in SCENARIOS if s.implemented]
    )

    print(f"genflow chaos run, {now_utc():%Y-%m-%d %H:%M} UTC")
    print(f"  command: .venv/bin/python -m bench.chaos {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"  machine: {len(os.sched_getaffinity(0))} CPU cores (shared), Python "
        f"{sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}; genflow up on PostgreSQL "
        f"(a fresh database per scenario), builtin provider, generated tests "
        f"{'not run' if args.no_tests else 'run'}"
    )
    print(
        f"  load: {args.generations} logical requests per scenario from {args.clients} clients "
        "(one user each), every create under an Idempotency-Key"
    )
    outcomes: list[Outcome] = []
    for scenario in chosen:
        print(f"\n[{scenario.name}] {scenario.title}")
        sys.stdout.flush()
        if not scenario.implemented:
            print("  not implemented yet (a later issue adds it); skipped")
            continue
        outcome = await run_scenario(
            scenario,
            args.generations,
            args.clients,
            not args.no_tests,
            args.timeout,
            args.keep,
        )
        report(outcome)
        outcomes.append(outcome)
        sys.stdout.flush()

    print("\nsummary")
    print(
        f"  {'scenario':<16}{'created':>8}{'done':>6}{'failed':>7}{'lost':>6}{'dup':>5}"
        f"{'disagree':>9}{'500s':>6}{'recover s':>10}  verdict"
    )
    for o in outcomes:
        c = o.checked
        known = [r for r in o.recovery if r is not None]
        recover = f"{max(known):.1f}" if known else "-"
        print(
            f"  {o.scenario.name:<16}{c.created:>8}{c.completed:>6}{c.failed:>7}{c.lost:>6}"
            f"{c.duplicated:>5}{c.disagreements:>9}{o.stats.codes[500]:>6}{recover:>10}  "
            f"{'PASS' if o.ok else 'FAIL'}"
        )
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(failed)} of {len(outcomes)} scenarios failed their budgets")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
