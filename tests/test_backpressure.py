"""A burst or a crash storm delays generations, never fails them: infrastructure faults
do not use up a stage's attempts, sandboxed work takes bounded slots and waits in
Temporal's queue (visibly), a database outage answers 503."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from activities.stages import StageActivities
from api.app import create_app
from genflow.db.errors import is_database_outage
from genflow.db.models import Generation
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.settings import Settings
from tests.conftest import LIBRARY, ROOT_DIR, Stack, eventually, serve
from tests.scripted import ScriptedStages
from tests.test_durability import CRASH_AFTER_START, start_worker
from worker.assembly import build_worker


@asynccontextmanager
async def api_with(
    stack: Stack, **changes: Any
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """An API on the stack's read model and Temporal with changed settings (its own
    task queue unless given)."""
    changes.setdefault("task_queue", f"bp-{uuid.uuid4()}")
    settings = stack.settings.model_copy(update=changes)
    server, task, base_url = await serve(
        create_app(settings, engine=stack.engine, temporal=stack.temporal)
    )
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield settings, http
    finally:
        server.should_exit = True
        await task


async def create(stack: Stack, http: httpx.AsyncClient, **body: Any) -> uuid.UUID:
    body.setdefault("prompt", LIBRARY)
    response = await http.post("/v1/generations", json=body, headers=stack.auth())
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def final_row(stack: Stack, generation_id: uuid.UUID, timeout: float = 90) -> Generation:
    async def ended() -> Generation | None:
        row = await stack.repository.get(generation_id)
        return row if row is not None and row.status in ("completed", "failed") else None

    row: Generation = await eventually(ended, timeout, what=f"generation {generation_id} to end")
    return row


def stage_of(row: Generation, name: str) -> Any:
    return next(stage for stage in row.stages if stage.name == name)


async def test_own_errors_fail_the_stage_after_its_attempt_limit_naming_the_error(
    stack: Stack,
) -> None:
    # The stack's worker polls the stack's task queue; only the limit changes.
    async with api_with(stack, task_queue=stack.settings.task_queue, stage_max_attempts=3) as (
        _,
        http,
    ):
        generation_id = await create(
            stack, http, metadata={"test": {"fail_always": "code_generation"}}
        )
        row = await final_row(stack, generation_id)

    assert row.status == "failed"
    assert row.error_code == "stage_failed"
    assert "code_generation failed 3 time(s)" in (row.error_message or "")
    assert "RuntimeError: the stage's own error, attempt 3" in (row.error_message or "")
    stage = stage_of(row, "code_generation")
    assert (stage.status, stage.attempts, stage.failures) == ("failed", 3, 3)
    assert stage_of(row, "code_review").status == "skipped"


async def test_a_stage_that_runs_past_its_own_limit_fails_stage_timeout_after_its_attempts(
    stack: Stack,
) -> None:
    """The worker is alive and heartbeating while the stage's work blocks a thread: each
    attempt ends at the stage's own limit, counted, and the last names the limit."""
    async with api_with(stack, stage_max_attempts=2) as (settings, http):
        stages = ScriptedStages(
            stack.repository,
            SandboxLimits(),
            run_generated_code=False,
            attempt_seconds={"code_generation": 0.5},
        )
        worker = build_worker(stack.temporal, settings, stack.repository, stages)
        worker_task = asyncio.create_task(worker.run())
        try:
            generation_id = await create(
                stack, http, metadata={"test": {"block": {"code_generation": 3}}}
            )
            row = await final_row(stack, generation_id)
        finally:
            await worker.shutdown()
            await worker_task

    assert (row.status, row.error_code) == ("failed", "stage_timeout")
    assert "code_generation failed 2 time(s)" in (row.error_message or "")
    assert "limit of 0.5 s" in (row.error_message or "")
    stage = stage_of(row, "code_generation")
    assert (stage.status, stage.attempts, stage.failures) == ("failed", 2, 2)
    assert stage_of(row, "schema_extraction").status == "completed"


def start_scripted_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """A scripted worker process serving `settings`' task queue."""
    return start_worker(
        settings.resolved_database_url, settings.resolved_temporal_address, settings.task_queue
    )


@pytest.mark.postgresql_only
async def test_a_stage_whose_worker_dies_more_often_than_its_attempt_limit_completes(
    stack: Stack,
) -> None:
    kills = 2
    async with api_with(stack, stage_max_attempts=1, stage_heartbeat_timeout_seconds=2) as (
        settings,
        http,
    ):
        worker = start_scripted_worker(settings)
        try:
            generation_id = await create(
                stack, http, metadata={"test": {"pace": {"code_generation": 1.0}}}
            )
            for attempt in range(1, kills + 1):

                async def running(attempt: int = attempt) -> bool:
                    row = await stack.repository.get(generation_id)
                    stage = row and stage_of(row, "code_generation")
                    return bool(stage and stage.status == "running" and stage.attempts == attempt)

                await eventually(running, 60, what=f"code_generation attempt {attempt}")
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                worker = start_scripted_worker(settings)
            row = await final_row(stack, generation_id)
        finally:
            worker.terminate()
            worker.wait()

    assert row.status == "completed", (row.error_code, row.error_message)
    stage = stage_of(row, "code_generation")
    assert stage.attempts == kills + 1 > 1  # more attempts than the limit of own errors
    assert stage.failures == 0
    assert [s.status for s in row.stages] == ["completed"] * 4


def overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in edges:  # at equal times an end (-1) sorts before a start
        open_now += step
        peak = max(peak, open_now)
    return peak


@pytest.mark.postgresql_only
async def test_a_burst_of_three_times_the_sandbox_slots_completes_within_the_slots(
    stack: Stack,
) -> None:
    slots = 1
    async with api_with(stack, sandbox_slots=slots) as (settings, http):
        stages = StageActivities(stack.repository, SandboxLimits(timeout_seconds=120))
        worker = build_worker(stack.temporal, settings, stack.repository, stages)
        async with worker:
            ids = await asyncio.gather(
                *(create(stack, http, template="python-library") for _ in range(3 * slots))
            )
            rows = [await final_row(stack, generation_id, 180) for generation_id in ids]

    assert [row.status for row in rows] == ["completed"] * len(ids)
    runs = []
    for row in rows:
        assert row.quality_report is not None
        tests = next(c for c in row.quality_report["checks"] if c["name"] == "tests")
        assert tests["passed"] > 0 and tests["failed"] == 0
        sandbox = tests["sandbox"]
        runs.append(
            (
                datetime.fromisoformat(sandbox["started_at"]),
                datetime.fromisoformat(sandbox["ended_at"]),
            )
        )
    assert overlap(runs) == slots
    waited = [stage_of(row, "code_review").queue_ms for row in rows]
    assert max(waited) > 0, waited  # the later reviews waited in Temporal's queue


async def test_a_stage_waiting_for_a_sandbox_slot_shows_as_queued(stack: Stack) -> None:
    async with api_with(stack, run_generated_code=False) as (settings, http):
        stages = ScriptedStages(stack.repository, SandboxLimits(), run_generated_code=False)
        orchestration = build_worker(
            stack.temporal,
            settings.model_copy(update={"worker_role": "orchestration"}),
            stack.repository,
            stages,
        )
        async with orchestration:
            generation_id = await create(stack, http, title="queued")
            url = f"/v1/generations/{generation_id}"

            async def queued() -> dict[str, Any] | None:
                found = (await http.get(url, headers=stack.auth())).json()
                waiting = found["queue"] and found["queue"]["stage"] == "code_review"
                return found if waiting else None

            generation = await eventually(queued, 60, what="the review to be queued")
            assert generation["status"] == "processing"
            assert generation["queue"]["stage"] == "code_review"
            review = next(s for s in generation["stages"] if s["name"] == "code_review")
            assert review["status"] == "pending" and review["queued_at"] is not None
            statistics = (await http.get("/v1/generations/statistics", headers=stack.auth())).json()
            assert statistics["backlog"]["by_stage"]["code_review"] >= 1
            assert statistics["backlog"]["oldest_queued_at"] is not None
            metrics = (await http.get("/metrics")).text
            assert 'genflow_backlog{stage="code_review"}' in metrics
            assert 'genflow_backlog{stage="code_review"} 0.0' not in metrics

            # The scenario's input, not a wait: the review stays queued at least 0.3 s,
            # which its measured queue time must show.
            await asyncio.sleep(0.3)
            sandbox = build_worker(
                stack.temporal,
                settings.model_copy(update={"worker_role": "sandbox"}),
                stack.repository,
                stages,
            )
            async with sandbox:
                row = await final_row(stack, generation_id)

    assert row.status == "completed"
    assert stage_of(row, "code_review").queue_ms >= 300
    done = (await stack.http.get(f"/v1/generations/{generation_id}", headers=stack.auth())).json()
    assert done["queue"] is None
    statistics = (await stack.http.get("/v1/generations/statistics", headers=stack.auth())).json()
    assert statistics["schedule_to_start"]["code_review"]["samples"] >= 1


@pytest.mark.postgresql_only
async def test_an_unreachable_database_answers_503_with_retry_after(stack: Stack) -> None:
    nowhere = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    app = create_app(stack.settings, engine=nowhere, temporal=stack.temporal)
    server, task, base_url = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            answers = [
                await http.get("/v1/generations", headers=stack.auth()),
                await http.post("/v1/generations", json={"prompt": LIBRARY}, headers=stack.auth()),
                await http.get(f"/v1/generations/{uuid.uuid4()}", headers=stack.auth()),
            ]
    finally:
        server.should_exit = True
        await task
        await nowhere.dispose()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["retry-after"]) > 0
        assert "database" in answer.json()["detail"]


async def test_database_outages_are_told_apart_from_bugs() -> None:
    nowhere = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        async with nowhere.connect():
            raise AssertionError("connected to nothing")
    except Exception as err:
        assert is_database_outage(err)
    finally:
        await nowhere.dispose()
    assert not is_database_outage(RuntimeError("a bug"))
    assert not is_database_outage(ValueError("bad data"))


async def test_a_retry_after_a_crash_gets_its_generation_at_once_when_the_workflow_exists(
    stack: Stack,
) -> None:
    # The crashed API's workflow goes to a queue no worker polls, so only the retry
    # below can bring the row into the read model.
    unpolled = f"unpolled-{uuid.uuid4()}"
    key = f"key-{uuid.uuid4()}"
    env = {
        **os.environ,
        "DATABASE_URL": stack.settings.resolved_database_url,
        "TEMPORAL_ADDRESS": stack.settings.resolved_temporal_address,
        "GENFLOW_TASK_QUEUE": unpolled,
    }
    crashed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASH_AFTER_START,
        LIBRARY,
        "alice",
        key,
        cwd=ROOT_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await crashed.communicate()
    assert crashed.returncode == 137
    generation_id = output.decode().strip()
    handle = stack.temporal.get_workflow_handle(f"gen-{generation_id}")
    try:
        retry = await stack.http.post(
            "/v1/generations",
            json={"prompt": LIBRARY},
            headers={**stack.auth(), "Idempotency-Key": key},
        )
        assert retry.status_code == 202, retry.text
        assert retry.json()["id"] == generation_id
        row = await stack.repository.get(uuid.UUID(generation_id))
        assert row is not None and row.user_id == "alice"
    finally:
        await handle.terminate(reason="test over")
