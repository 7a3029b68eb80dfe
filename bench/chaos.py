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
The faults are in `bench/chaos_faults.py`, the stack in `bench/stack.py`, the client in
`bench/genflow_http.py` and the check in `bench/checker.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.chaos_faults import SCENARIOS, Run, Scenario, operator_outcomes
from bench.checker import CheckResult, check, first_problems, recovery_times
from bench.genflow_http import Created, GenflowHttp, HttpStats
from bench.postgres import PG_HOST, PG_PORT, create_database, drop_database, pg_url
from bench.stack import Stack
from bench.tcp_proxy import TcpProxy
from bench.workload import LIMITS, body


@dataclass
class Outcome:
    """What one scenario came to, and its budgets (each must be 0)."""

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
    """One scenario on a fresh database and stack: the load from `clients` users, the
    fault beside it, then the check of every generation."""
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
        since = datetime.now(UTC) - timedelta(seconds=1)
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

    print(f"genflow chaos run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
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
