"""A generation's life through the real API, worker, Temporal and read model: it
completes, retries a transient failure, fails on requirements it cannot read, and
stops when cancelled."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowExecutionStatus

from genflow import search_attributes as sa
from genflow.domain import STAGES, StageName
from tests.conftest import RUN_CODE, Stack, closed, eventually
from tests.watched import WatchedStages, watched
from workflows.generation import GenerationWorkflow

EXPECTED_PATHS = {
    "spec.json",
    "pyproject.toml",
    "library_service/__init__.py",
    "library_service/models.py",
    "library_service/store.py",
    "library_service/py.typed",
    "tests/test_library_service.py",
    "review/quality_report.json",
    "README.md",
    "docs/API.md",
}


@pytest.fixture(scope="module")
async def watched_stack(stack: Stack) -> AsyncIterator[tuple[Stack, WatchedStages]]:
    async with watched(stack) as found:
        yield found


async def test_generation_completes_with_four_stages_artifacts_and_done(stack: Stack) -> None:
    created = await stack.create(title="library", metadata=RUN_CODE)
    assert created["status"] in ("pending", "processing")  # the worker may be quicker
    assert created["workflow_id"] == f"gen-{created['id']}"

    done = await stack.finished(created["id"])

    assert done["status"] == "completed"
    assert done["progress"] == 100
    assert [s["name"] for s in done["stages"]] == list(STAGES)
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in done["stages"])
    assert {a["path"] for a in done["artifacts"]} == EXPECTED_PATHS
    assert done["quality_score"] == 100.0
    tests = next(c for c in done["quality_report"]["checks"] if c["name"] == "tests")
    assert tests["passed"] >= 8 and tests["failed"] == 0
    assert set(done["metrics"]["stage_ms"]) == set(STAGES)

    events = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done"
    assert events[-1].data == {"status": "completed", "quality_score": 100.0, "error": None}
    assert sum(e.event == "artifact" for e in events) == len(EXPECTED_PATHS)

    handle = stack.temporal.get_workflow_handle(created["workflow_id"])
    description = await closed(handle)
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.typed_search_attributes.get(sa.GENERATION_STATUS) == "completed"
    assert description.typed_search_attributes.get(sa.USER_ID) == "alice"
    assert description.typed_search_attributes.get(sa.QUALITY_SCORE) == 100.0
    progress = await handle.query(GenerationWorkflow.progress)
    assert progress.status == "completed" and progress.percent == 100
    assert all(stage.attempts == 1 for stage in progress.stages.values())


async def test_transient_failure_is_retried_and_attempts_are_visible(stack: Stack) -> None:
    created = await stack.create(metadata={"test": {"fail_once": "code_generation"}})

    done = await stack.finished(created["id"])

    assert done["status"] == "completed"
    stages = {s["name"]: s for s in done["stages"]}
    assert stages["code_generation"]["attempts"] == 2
    assert stages["schema_extraction"]["attempts"] == 1
    events = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    retrying = [e.data for e in events if e.event == "stage" and e.data["status"] == "retrying"]
    assert retrying == [
        {
            "stage": "code_generation",
            "status": "retrying",
            "attempt": 1,
            "error": "RuntimeError: transient failure injected by the test",
            "counted": True,
        }
    ]
    assert sum(e.event == "artifact" for e in events) == len(EXPECTED_PATHS)


async def test_bad_requirements_fail_at_once_with_error_code(stack: Stack) -> None:
    created = await stack.create(prompt="Please make me something nice.")

    done = await stack.finished(created["id"])

    assert done["status"] == "failed"
    assert done["error"]["code"] == "invalid_requirements"
    assert "no entity found" in done["error"]["message"]
    stages = {s["name"]: s for s in done["stages"]}
    assert stages["schema_extraction"]["status"] == "failed"
    assert stages["schema_extraction"]["attempts"] == 1
    assert all(stages[name]["status"] == "skipped" for name in list(STAGES)[1:])
    assert done["artifacts"] == []
    events = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    assert events[-1].event == "done"
    assert events[-1].data["status"] == "failed"
    assert events[-1].data["error"]["code"] == "invalid_requirements"
    description = await closed(stack.temporal.get_workflow_handle(created["workflow_id"]))
    assert description.status == WorkflowExecutionStatus.FAILED
    assert description.typed_search_attributes.get(sa.GENERATION_STATUS) == "failed"


async def test_unreadable_sentence_is_named_in_the_error(stack: Stack) -> None:
    created = await stack.create(prompt="A shop. Product has name (text), weight (blob).")

    done = await stack.finished(created["id"])

    assert done["error"]["code"] == "invalid_requirements"
    assert 'sentence 2 ("Product has name (text), weight (blob)")' in done["error"]["message"]


# The workflow's cancel in each of the four stages is tested on the time-skipping server
# (test_generation_workflow.py); end to end, one stage of each task queue: the main
# queue's worker and the sandbox queue's.
@pytest.mark.parametrize("stage", [StageName.CODE_GENERATION, StageName.CODE_REVIEW])
async def test_cancel_during_a_stage_ends_cancelled_within_2s(
    watched_stack: tuple[Stack, WatchedStages], stage: str
) -> None:
    stack, stages_seen = watched_stack
    # The stage runs 4 s: the cancel (seen at the stage's next heartbeat, within a
    # second) reaches it before it ends, however late a busy machine let the poll see it
    # running.
    created = await stack.create(metadata={"test": {"pace": {stage: 4.0}}})
    generation_id = uuid.UUID(created["id"])
    await stack.wait_until(
        created["id"],
        lambda g: {s["name"]: s["status"] for s in g["stages"]}[stage] == "running",
        timeout=30,
    )

    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await stack.http.post(
        f"/v1/generations/{created['id']}/cancel",
        json={"reason": f"stop during {stage}"},
        headers=stack.auth(),
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("cancelling", "cancelled")

    async def cancelled() -> bool:
        row = await stack.repository.get(generation_id)
        return row is not None and row.status == "cancelled"

    left = 2.0 - (loop.time() - started)
    await eventually(cancelled, left, 0.02, "the row to be cancelled within 2 s of the cancel")

    done = await stack.get(created["id"])
    assert done["cancel_reason"] == f"stop during {stage}"
    stages = {s["name"]: s for s in done["stages"]}
    position = list(STAGES).index(stage)
    assert all(stages[name]["status"] == "completed" for name in list(STAGES)[:position])
    assert all(stages[name]["status"] == "skipped" for name in list(STAGES)[position:])
    assert stages[stage]["started_at"] is not None
    events = await stack.repository.events_after(generation_id, 0)
    assert events[-1].event == "done" and events[-1].data["status"] == "cancelled"
    statuses = [e.data["status"] for e in events if e.event == "status"]
    # `cancelling` is recorded unless the workflow's cleanup was quicker than the API.
    assert statuses[-1] == "cancelled" and statuses[-2] in ("cancelling", "processing")

    # The interrupted stage never writes after the cancel was recorded: once its
    # attempt has ended (cancelled, or done and refused), nothing follows `done`.
    description = await stages_seen.quiet(stack, created, stage)
    assert description.status == WorkflowExecutionStatus.CANCELED
    assert (await stack.repository.events_after(generation_id, events[-1].id)) == []


async def test_cancel_of_a_finished_generation_is_409(stack: Stack) -> None:
    created = await stack.create()
    await stack.finished(created["id"])

    response = await stack.http.post(
        f"/v1/generations/{created['id']}/cancel", json={}, headers=stack.auth()
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert (await stack.get(created["id"]))["status"] == "completed"
