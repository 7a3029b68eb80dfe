"""Housekeeping stays out of the operators' way: the reconciler is one long-lived
workflow per task queue that continues as new after a number of passes, so the Web UI's
Workflows list shows a handful of runs however many passes it made (the Schedule of
earlier releases started a workflow per pass: 8,640 a day), and it still settles rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from genflow.db.engine import make_session_maker
from genflow.db.models import utcnow
from genflow.db.repository import GenerationRepository, NewGeneration
from genflow.pipeline.review import SandboxLimits
from tests.conftest import test_settings as settings_for
from tests.scripted import ScriptedStages
from tests.support import eventually
from worker.assembly import build_worker
from worker.schedules import ensure_schedules, reconciler_id, stop_housekeeping

# The dev server fires timers about a second apart at the soonest: 12 passes take ~12 s.
PASSES_PER_RUN = 4
PASSES = 3 * PASSES_PER_RUN


async def passes_made(client: Client, workflow_id: str) -> int:
    """Reconcile passes completed over every run of the reconciler."""
    done = 0
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
        async for event in handle.fetch_history_events():
            done += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    return done


@pytest.mark.postgresql_only  # Temporal's view of the reconciler, whatever the read model
async def test_the_reconciler_is_a_handful_of_runs_that_keep_settling(
    database_url: str,
    temporal_address: str,
    temporal_client: Client,
    migrated_engine: AsyncEngine,
) -> None:
    # A pass per second and 4 passes a run, instead of every 10 s and 360 a run (an
    # hour): 12 passes stand for three hours.
    settings = settings_for(
        database_url,
        temporal_address,
        reconcile_every_seconds=0.01,
        reconcile_passes_per_run=PASSES_PER_RUN,
    )
    repository = GenerationRepository(make_session_maker(migrated_engine))
    # A row whose workflow never started, old enough for the reconciler to settle.
    lost = uuid.uuid4()
    created_at = utcnow() - timedelta(minutes=5)
    await repository.insert_generation(
        NewGeneration(lost, "housekeeping", "Book has title.", "builtin", created_at=created_at)
    )
    worker = build_worker(
        temporal_client, settings, repository, ScriptedStages(repository, SandboxLimits())
    )
    running = asyncio.create_task(worker.run())
    try:
        await ensure_schedules(temporal_client, settings)
        await ensure_schedules(temporal_client, settings)  # a second worker starts: no twin
        workflow_id = reconciler_id(settings.task_queue)

        async def settled() -> bool:
            row = await repository.get(lost)
            return row is not None and row.error_code == "workflow_not_found"

        await eventually(settled, timeout=30, what="the lost row settled")

        async def many_passes() -> int | None:
            made = await passes_made(temporal_client, workflow_id)
            return made if made >= PASSES else None

        passes = await eventually(many_passes, timeout=60, interval=0.5, what=f"{PASSES} passes")

        # Everything on this task queue the Workflows list shows, with no query.
        runs = [
            run
            async for run in temporal_client.list_workflows()
            if run.task_queue == settings.task_queue
        ]
    finally:
        await stop_housekeeping(temporal_client, settings)
        await worker.shutdown()
        await running

    assert {run.workflow_type for run in runs} == {"ReconcilerWorkflow"}
    assert {run.id for run in runs} == {workflow_id}
    assert len(runs) <= passes // PASSES_PER_RUN + 1 <= 5
    running_now = [run for run in runs if run.status == WorkflowExecutionStatus.RUNNING]
    assert len(running_now) == 1
    assert all(
        run.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        for run in runs
        if run is not running_now[0]
    )
