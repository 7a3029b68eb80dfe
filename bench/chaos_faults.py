"""The faults of `bench/chaos.py`: each scenario's injector runs beside the load and
records when it struck (`Run.fault`), for the time to recover."""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bench.genflow_http import Created, GenflowHttp
from bench.stack import Stack
from bench.tcp_proxy import TcpProxy
from tests.support import TEMPORAL_BIN


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


async def worker_kill(run: Run) -> None:
    """10 kills, each after the (restarted) worker has lived a random 1.5-4.5 s."""
    waits: list[float] = []
    while len(run.faults) < 10:
        waits.append(await run.stack.wait_alive("worker"))
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
        await run.stack.wait_alive("api")
        pid = run.stack.kill("api")
        run.fault(f"SIGKILL api {pid}")


async def temporal_kill(run: Run) -> None:
    first = random.uniform(3, 8)
    for moment in (first, first + random.uniform(8, 14)):
        await asyncio.sleep(max(0.0, run.started + moment - time.time()))
        if run.load_done.is_set():
            return
        await run.stack.wait_alive("temporal")
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
        [str(TEMPORAL_BIN), "workflow", *args, "--address", run.stack.temporal_address],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def cancel_reached(run: Run, workflow_id: str) -> bool:
    """Whether the workflow's history holds the operator's cancel request: `temporal
    workflow cancel` says "Canceled workflow" (exit 0) for one that had already
    completed, so its exit status alone does not tell."""
    shown = subprocess.run(
        [
            str(TEMPORAL_BIN),
            "workflow",
            "show",
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
            "--address",
            run.stack.temporal_address,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return "CancelRequested" in shown.stdout or "CANCEL_REQUESTED" in shown.stdout


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
            done = await asyncio.to_thread(
                temporal_cli, run, command, "--workflow-id", workflow, *options
            )
            if done and action == "cancel":
                done = await asyncio.to_thread(cancel_reached, run, workflow)
            if done:
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
        await run.stack.wait_alive("worker")
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
