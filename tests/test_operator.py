"""The read model follows Temporal whatever closed a workflow: an operator's Terminate
or Cancel (through the `temporal` CLI, as in the Web UI), a workflow timeout, a
workflow that is gone, and all of it while the API and the workers were down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from temporalio.api.common.v1 import Payload
from temporalio.client import ScheduleActionStartWorkflow, WorkflowExecutionStatus

from api.generations.starting import stage_policy
from genflow.contracts import RetentionInput
from genflow.db.models import DeletedGeneration, Generation, IdempotencyKey
from genflow.db.repository import NewGeneration
from genflow.domain import workflow_id_for
from tests.conftest import LIBRARY, Stack, closed, eventually
from tests.test_backpressure import api_with, create, start_scripted_worker
from tests.test_generations_events import read_events
from worker.schedules import reconciler_id, retention_schedule_id, stop_housekeeping
from workflows.generation import GenerationWorkflow
from workflows.reconcile import ReconcilerWorkflow
from workflows.retention import RetentionWorkflow

TEMPORAL = str(Path(sys.executable).parent / "temporal")
PACED = {"test": {"pace": 0.5}}  # slow enough for the operator to act mid-run


def temporal_cli(stack: Stack, *args: str) -> None:
    """Run `temporal workflow ...` against the stack's server, as an operator would."""
    subprocess.run(
        [TEMPORAL, "workflow", *args, "--address", stack.settings.resolved_temporal_address],
        check=True,
        capture_output=True,
        timeout=30,
    )


async def settled(stack: Stack, generation_id: str, timeout: float = 30) -> dict[str, Any]:
    async def final() -> dict[str, Any] | None:
        found = await stack.get(generation_id)
        return found if found["status"] in ("completed", "failed", "cancelled") else None

    result: dict[str, Any] = await eventually(final, timeout, 0.1, f"{generation_id} to settle")
    return result


async def active_ids(stack: Stack) -> set[str]:
    response = await stack.http.get("/v1/generations/active", headers=stack.auth())
    return {item["id"] for item in response.json()["items"]}


async def assert_done_event(stack: Stack, generation_id: str, status: str) -> None:
    events = await read_events(stack.http, f"/v1/generations/{generation_id}/stream", stack.auth())
    assert events[-1]["event"] == "done" and events[-1]["data"]["status"] == status
    assert [e["id"] for e in events] == sorted({e["id"] for e in events})


async def running(stack: Stack, generation_id: str) -> None:
    await stack.wait_until(generation_id, lambda g: g["stage"] == "code_generation", 30)


async def test_an_operators_terminate_reaches_the_read_model(stack: Stack) -> None:
    created = await stack.create(metadata={"test": {"pace": 2.0}})
    await running(stack, created["id"])
    assert created["id"] in await active_ids(stack)

    temporal_cli(
        stack, "terminate", "--workflow-id", workflow_id_for(created["id"]), "--reason", "stuck"
    )
    done = await settled(stack, created["id"])

    assert done["status"] == "failed"
    assert done["error"] == {"code": "terminated", "message": "terminated in Temporal: stuck"}
    statuses = [s["status"] for s in done["stages"]]
    failed = statuses.index("failed")  # the stage that was running, then later ones skipped
    assert statuses[:failed] == ["completed"] * failed and failed >= 1
    assert statuses[failed + 1 :] == ["skipped"] * (len(statuses) - failed - 1)
    assert created["id"] not in await active_ids(stack)
    await assert_done_event(stack, created["id"], "failed")
    # The client's cancel of a settled generation is refused, not left `cancelling`.
    cancel = await stack.http.post(
        f"/v1/generations/{created['id']}/cancel", json={}, headers=stack.auth()
    )
    assert cancel.status_code == 409


@pytest.mark.postgresql_only  # the cancel is the workflow's; its cleanup writes as any cancel does
async def test_an_operators_cancel_reaches_the_read_model(stack: Stack) -> None:
    created = await stack.create(metadata=PACED)
    await running(stack, created["id"])

    temporal_cli(stack, "cancel", "--workflow-id", workflow_id_for(created["id"]))
    done = await settled(stack, created["id"])

    assert done["status"] == "cancelled"
    assert created["id"] not in await active_ids(stack)
    await assert_done_event(stack, created["id"], "cancelled")


@pytest.mark.postgresql_only  # the settling is the terminate's, tested on both
async def test_a_client_cancel_after_a_terminate_settles_the_row_at_once(stack: Stack) -> None:
    created = await stack.create(metadata={"test": {"pace": 2.0}})
    await running(stack, created["id"])
    handle = stack.temporal.get_workflow_handle(workflow_id_for(created["id"]))
    await handle.terminate(reason="operator")

    cancel = await stack.http.post(
        f"/v1/generations/{created['id']}/cancel", json={}, headers=stack.auth()
    )

    assert cancel.status_code == 409, cancel.text
    row = await stack.get(created["id"])
    assert row["status"] == "failed" and row["error"]["code"] == "terminated"


@pytest.mark.postgresql_only  # the timeout is Temporal's; the reconciler settles it as a terminate
async def test_a_workflow_run_timeout_reaches_the_read_model(stack: Stack) -> None:
    generation_id = uuid.uuid4()
    new = NewGeneration(
        id=generation_id,
        user_id="alice",
        prompt=LIBRARY,
        provider="builtin",
        metadata={"test": {"pace": 3.0}},
    )
    handle = await stack.temporal.start_workflow(
        GenerationWorkflow.run,
        new.to_workflow_input(3600, stage_policy(stack.settings)),
        id=new.workflow_id,
        task_queue=stack.settings.task_queue,
        run_timeout=timedelta(seconds=4),
    )
    assert (await closed(handle, 30)).status == WorkflowExecutionStatus.TIMED_OUT

    done = await settled(stack, str(generation_id))

    assert done["status"] == "failed" and done["error"]["code"] == "timed_out"
    await assert_done_event(stack, str(generation_id), "failed")


@pytest.fixture(autouse=True)
async def reconciling_often(stack: Stack) -> AsyncIterator[None]:
    """The session stack's reconciler passing every 0.5 s during these tests, whose rows
    it settles; between them it passes every 30 s, as a pass a second on every stack of
    the suite cost a fifth of its CPU. A new interval applies at once."""
    handle = stack.temporal.get_workflow_handle(reconciler_id(stack.settings.task_queue))
    await handle.signal(ReconcilerWorkflow.reschedule, 0.5)
    try:
        yield
    finally:
        await handle.signal(ReconcilerWorkflow.reschedule, stack.settings.reconcile_every_seconds)


@asynccontextmanager
async def reconciler_paused(stack: Stack) -> AsyncIterator[None]:
    """The session stack's reconciler paused (a signal), and its pass in flight over."""
    handle = stack.temporal.get_workflow_handle(reconciler_id(stack.settings.task_queue))
    await handle.signal(ReconcilerWorkflow.pause)

    async def idle() -> bool:
        state = await handle.query(ReconcilerWorkflow.state)
        return bool(state["paused"] and not state["in_pass"])

    try:
        await eventually(idle, timeout=30, what="the reconcile pass in flight")
        yield
    finally:
        await handle.signal(ReconcilerWorkflow.resume)


async def test_rows_catch_up_with_terminates_made_while_the_api_and_worker_were_down(
    stack: Stack,
) -> None:
    async with api_with(stack) as (settings, http):
        worker = start_scripted_worker(settings)
        try:
            ids = [
                str(await create(stack, http, metadata={"test": {"pace": 1.0}})) for _ in range(2)
            ]
            for generation_id in ids:
                await stack.wait_until(generation_id, lambda g: g["status"] == "processing", 60)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
    # Nothing of genflow runs on this task queue now, and the session stack's own
    # reconciler (which settles every active row) is paused: the operator terminates both.
    async with reconciler_paused(stack):
        for generation_id in ids:
            handle = stack.temporal.get_workflow_handle(workflow_id_for(generation_id))
            await handle.terminate(reason="cleanup while genflow was down")
        assert {(await stack.get(i))["status"] for i in ids} == {"processing"}

        worker = start_scripted_worker(settings)  # its reconciler catches up
        try:
            rows = [await settled(stack, generation_id, 60) for generation_id in ids]
        finally:
            worker.terminate()
            worker.wait()
            await stop_housekeeping(stack.temporal, settings)

    for row in rows:
        assert row["status"] == "failed" and row["error"]["code"] == "terminated"
        assert "cleanup while genflow was down" in row["error"]["message"]


@pytest.mark.postgresql_only  # the deadline is the workflow's
async def test_a_deadline_ends_a_running_stage_with_deadline_exceeded(stack: Stack) -> None:
    created = await stack.create(timeout_seconds=2.5, metadata={"test": {"pace": 1.5}})

    done = await settled(stack, created["id"])

    assert done["status"] == "failed"
    assert done["error"]["code"] == "deadline_exceeded"
    assert "2.5 s" in done["error"]["message"]
    stages = {s["name"]: s["status"] for s in done["stages"]}
    assert stages["schema_extraction"] == "completed"
    assert stages["code_generation"] == "failed"
    assert stages["code_review"] == stages["documentation"] == "skipped"
    handle = stack.temporal.get_workflow_handle(workflow_id_for(created["id"]))
    assert (await closed(handle)).status == WorkflowExecutionStatus.FAILED
    await assert_done_event(stack, created["id"], "failed")


@pytest.mark.postgresql_only  # the deadline is the workflow's
async def test_a_deadline_holds_across_an_approval_wait(stack: Stack) -> None:
    created = await stack.create(require_approval=True, timeout_seconds=1.5)
    await stack.wait_until(created["id"], lambda g: g["status"] == "awaiting_approval", 30)

    done = await settled(stack, created["id"])

    assert done["status"] == "failed" and done["error"]["code"] == "deadline_exceeded"
    assert created["id"] not in await active_ids(stack)


@pytest.mark.postgresql_only  # the input's size is Temporal's
async def test_a_maximal_valid_request_completes_with_a_small_workflow_input(stack: Stack) -> None:
    emoji = "\U0001f600"  # four bytes in UTF-8, twelve as escaped JSON
    prompt = LIBRARY + " " + emoji * (20_000 - len(LIBRARY) - 1)
    variables = {"v": emoji * 5450}  # just under 64 KiB of JSON
    metadata = {"m": emoji * 1360}  # just under 16 KiB of JSON
    created = await stack.create(prompt=prompt, variables=variables, metadata=metadata)

    done = await settled(stack, created["id"], 90)

    assert done["status"] == "completed", done["error"]
    assert done["prompt"] == prompt
    assert done["variables"] == variables and done["metadata"] == metadata
    handle = stack.temporal.get_workflow_handle(workflow_id_for(created["id"]))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert sum(len(p.data) for p in started.input.payloads) < 64 * 1024
    biggest = max(event.ByteSize() for event in history.events)
    assert biggest < 128 * 1024


async def test_the_retention_schedule_purges_only_what_outlived_its_purpose(stack: Stack) -> None:
    now = datetime.now(UTC)
    old_key, fresh_key = f"old-{uuid.uuid4()}", f"fresh-{uuid.uuid4()}"
    old_tombstone, fresh_tombstone = uuid.uuid4(), uuid.uuid4()
    finished = await stack.create()
    kept = await stack.create()
    for created in (finished, kept):
        await settled(stack, created["id"], 60)
    async with stack.engine.begin() as connection:
        for key, age in ((old_key, timedelta(days=2)), (fresh_key, timedelta(hours=1))):
            await connection.execute(
                insert(IdempotencyKey).values(
                    user_id="alice",
                    key=key,
                    request_hash="x" * 64,
                    generation_id=uuid.uuid4(),
                    created_at=now - age,
                )
            )
        for tombstone, age in ((old_tombstone, timedelta(days=8)), (fresh_tombstone, timedelta())):
            await connection.execute(
                insert(DeletedGeneration).values(id=tombstone, deleted_at=now - age)
            )
        await connection.execute(
            update(Generation)
            .where(Generation.id == uuid.UUID(finished["id"]))
            .values(completed_at=now - timedelta(days=40))
        )

    schedule = await stack.temporal.get_schedule_handle(
        retention_schedule_id(stack.settings.task_queue)
    ).describe()
    action = schedule.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "RetentionWorkflow"
    purged = await stack.temporal.execute_workflow(
        RetentionWorkflow.run,
        replace(action_input(action), generation_retention_days=30),
        id=f"retention-test-{uuid.uuid4()}",
        task_queue=stack.settings.task_queue,
    )

    assert purged["idempotency_keys"] >= 1 and purged["tombstones"] >= 1
    assert purged["generations"] >= 1
    async with stack.engine.connect() as connection:
        keys = set(await connection.scalars(select(IdempotencyKey.key)))
        tombstones = set(await connection.scalars(select(DeletedGeneration.id)))
    assert fresh_key in keys and old_key not in keys
    assert fresh_tombstone in tombstones and old_tombstone not in tombstones
    gone = await stack.http.get(f"/v1/generations/{finished['id']}", headers=stack.auth())
    assert gone.status_code == 404
    assert (await stack.get(kept["id"]))["status"] == "completed"


def action_input(action: ScheduleActionStartWorkflow) -> RetentionInput:
    """The schedule's own input (settings' TTLs), decoded."""
    payload = action.args[0]
    data = json.loads(payload.data) if isinstance(payload, Payload) else payload
    return RetentionInput(**data) if isinstance(data, dict) else data


async def test_a_reset_failed_workflow_brings_the_row_back_and_to_its_new_end(
    stack: Stack, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    script = {"test": {"fail_until": "code_generation", "flag": str(flag)}}
    async with api_with(stack, task_queue=stack.settings.task_queue, stage_max_attempts=1) as (
        _,
        http,
    ):
        generation_id = str(await create(stack, http, metadata=script))
    failed = await settled(stack, generation_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "stage_failed"
    handle = stack.temporal.get_workflow_handle(workflow_id_for(generation_id))
    await closed(handle)

    flag.touch()  # the operator fixed the cause, then resets the workflow
    temporal_cli(
        stack,
        "reset",
        "--workflow-id",
        workflow_id_for(generation_id),
        "--type",
        "FirstWorkflowTask",
        "--reason",
        "fixed",
    )

    async def reopened_or_done() -> dict[str, Any] | None:
        found = await stack.get(generation_id)
        return found if found["status"] != "failed" else None

    await eventually(reopened_or_done, 30, 0.05, "the row to leave failed")
    done = await stack.wait_until(generation_id, lambda g: g["status"] == "completed", 60)
    assert done["error"] is None and done["completed_at"] is not None
    assert [s["status"] for s in done["stages"]] == ["completed"] * 4
    paths = [a["path"] for a in done["artifacts"]]
    assert len(paths) == len(set(paths))
    events = await read_events(stack.http, f"/v1/generations/{generation_id}/stream", stack.auth())
    ids = [e["id"] for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # growing, none twice, none missing
    assert [e["data"]["status"] for e in events if e["event"] == "done"] == ["failed", "completed"]
    statuses = [e["data"]["status"] for e in events if e["event"] == "status"]
    assert statuses[-3:] == ["failed", "processing", "completed"]


@pytest.mark.postgresql_only  # the settling is the terminate's, tested on both
async def test_a_terminated_generation_no_longer_counts_against_the_active_limit(
    stack: Stack,
) -> None:
    user = f"limited-{uuid.uuid4()}"
    headers = stack.auth(user)
    body = {"prompt": LIBRARY, "metadata": PACED}
    async with api_with(stack, task_queue=stack.settings.task_queue, max_active_per_user=1) as (
        _,
        http,
    ):
        first = await http.post("/v1/generations", json=body, headers=headers)
        assert first.status_code == 202, first.text
        refused = await http.post("/v1/generations", json=body, headers=headers)
        assert refused.status_code == 429

        temporal_cli(stack, "terminate", "--workflow-id", first.json()["workflow_id"])
        await stack.wait_until(first.json()["id"], lambda g: g["status"] == "failed", 30, user=user)
        again = await http.post("/v1/generations", json=body, headers=headers)
        assert again.status_code == 202, again.text
        await stack.temporal.get_workflow_handle(again.json()["workflow_id"]).terminate(
            reason="test over"
        )
