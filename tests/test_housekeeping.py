"""Housekeeping stays out of the operators' way: the reconciler is one long-lived
workflow per task queue that continues as new after a number of passes, so the Web UI's
Workflows list shows a handful of runs however many passes it made (the Schedule of
earlier releases started a workflow per pass: 8,640 a day), and it still settles rows.

The test runs three hours of the reconciler, scaled: a pass every 10 ms and 30 passes a
run (instead of every 10 s and 360 a run), on a dev server of its own whose timers fire
within milliseconds (a dev server fires a 10 ms timer a second late), with a read model
of its own (a reconciler settles every active row of its database that its Temporal
does not know, so it must not see other tests' rows)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.generations.starting import stage_policy
from genflow import search_attributes as sa
from genflow.contracts import ReconcileInput, ReconcileOutcome
from genflow.db.engine import make_engine, make_session_maker, migrate
from genflow.db.models import utcnow
from genflow.db.repository import GenerationRepository, NewGeneration
from genflow.fairness import dev_server_flags
from genflow.pipeline.sandbox.limits import SandboxLimits
from tests.conftest import LIBRARY
from tests.conftest import test_settings as settings_for
from tests.scripted import ScriptedStages
from tests.support import TEMPORAL_BIN, eventually
from worker.assembly import build_worker
from worker.schedules import (
    ensure_schedules,
    reconcile_schedule_id,
    reconciler_id,
    stop_housekeeping,
)
from workflows.generation import GenerationWorkflow
from workflows.reconcile import ReconcilerWorkflow

PASSES_PER_RUN = 30
PASSES = 3 * PASSES_PER_RUN  # three "hours"
# The timer queue reads timers due within a second at once (timerProcessorMaxTimeShift,
# default 1 s): a 10 ms timer would fire a second late, and 90 passes take a minute and a half.
FAST_TIMERS = [
    'history.timerProcessorMaxTimeShift="10ms"',
    "history.timerProcessorMaxPollRPS=1000",
]


@pytest.fixture
async def fast_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own, with timers that fire on time."""
    flags = [arg for flag in FAST_TIMERS for arg in ("--dynamic-config-value", flag)]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        search_attributes=sa.ALL,
        dev_server_log_level="error",
        dev_server_extra_args=dev_server_flags() + flags,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def own_database_url(tmp_path: Path) -> str:
    """A read model no other test writes to."""
    return f"sqlite+aiosqlite:///{tmp_path / 'housekeeping.db'}"


@pytest.fixture
async def own_repository(own_database_url: str) -> AsyncIterator[GenerationRepository]:
    engine = make_engine(own_database_url)
    await migrate(engine)
    try:
        yield GenerationRepository(make_session_maker(engine))
    finally:
        await engine.dispose()


async def passes_made(client: Client, workflow_id: str) -> int:
    """Reconcile passes completed over every run of the reconciler."""
    done = 0
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
        async for event in handle.fetch_history_events():
            done += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    return done


async def schedule_exists(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_an_hour_of_the_reconciler_is_a_handful_of_runs_that_keep_settling(
    fast_temporal: WorkflowEnvironment,
    own_database_url: str,
    own_repository: GenerationRepository,
) -> None:
    client = fast_temporal.client
    repository = own_repository
    settings = settings_for(
        own_database_url,
        client.service_client.config.target_host,
        reconcile_every_seconds=0.01,
        reconcile_passes_per_run=PASSES_PER_RUN,
    )
    queue = settings.task_queue
    # An earlier release's per-pass Schedule (it would fire in an hour).
    await client.create_schedule(
        reconcile_schedule_id(queue),
        Schedule(
            action=ScheduleActionStartWorkflow(
                "ReconcileWorkflow", ReconcileInput(), id=f"reconcile-{queue}", task_queue=queue
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        ),
    )
    # A row whose workflow never started, old enough for the reconciler to settle.
    lost = uuid.uuid4()
    await repository.insert_generation(
        NewGeneration(
            lost, "housekeeping", LIBRARY, "builtin", created_at=utcnow() - timedelta(minutes=5)
        )
    )
    worker = build_worker(client, settings, repository, ScriptedStages(repository, SandboxLimits()))
    async with worker:
        await ensure_schedules(client, settings)
        await ensure_schedules(client, settings)  # a second worker starts: no twin
        workflow_id = reconciler_id(queue)
        assert not await schedule_exists(client, reconcile_schedule_id(queue))

        async def lost_settled() -> bool:
            row = await repository.get(lost)
            return row is not None and row.error_code == "workflow_not_found"

        await eventually(lost_settled, timeout=30, what="the lost row settled")

        async def many_passes() -> int | None:
            made = await passes_made(client, workflow_id)
            return made if made >= PASSES else None

        passes = await eventually(many_passes, timeout=120, interval=1, what=f"{PASSES} passes")

        # Everything of this task queue the Workflows list shows, with no query.
        runs = [run async for run in client.list_workflows() if run.task_queue == queue]

        # After the "hours", an operator terminates a generation mid-stage: its row
        # is settled by the next pass, within seconds.
        generation = NewGeneration(
            uuid.uuid4(), "housekeeping", LIBRARY, "builtin", metadata={"test": {"pace": 30.0}}
        )
        await repository.insert_generation(generation)
        handle = await client.start_workflow(
            GenerationWorkflow.run,
            generation.to_workflow_input(3600, stage_policy(settings)),
            id=generation.workflow_id,
            task_queue=queue,
        )

        async def processing() -> bool:
            row = await repository.get(generation.id)
            return row is not None and row.status == "processing"

        await eventually(processing, timeout=30, what="the generation processing")
        await handle.terminate(reason="operator cleanup")

        async def terminated() -> bool:
            row = await repository.get(generation.id)
            return row is not None and row.error_code == "terminated"

        await eventually(terminated, timeout=5, what="the terminated row settled")
        await stop_housekeeping(client, settings)

    row = await repository.get(generation.id)
    assert row is not None and row.status == "failed"
    assert "operator cleanup" in (row.error_message or "")
    assert passes >= PASSES
    # Housekeeping only: the reconciler's runs, and the hourly retention Schedule's run
    # if the test happens to cross the top of an hour (a Schedule fires on the clock).
    assert {run.workflow_type for run in runs} <= {"ReconcilerWorkflow", "RetentionWorkflow"}
    assert len(runs) <= 6
    runs = [run for run in runs if run.workflow_type == "ReconcilerWorkflow"]
    assert {run.id for run in runs} == {workflow_id}
    assert len(runs) <= 5
    running_now = [run for run in runs if run.status == WorkflowExecutionStatus.RUNNING]
    assert len(running_now) == 1
    others = [run.status for run in runs if run is not running_now[0]]
    assert others and set(others) == {WorkflowExecutionStatus.CONTINUED_AS_NEW}


class ScriptedPasses:
    """The reconcile activity of a test: the first pass fails for good, later ones
    succeed, and once `hang` is set a pass heartbeats until it is cancelled."""

    def __init__(self) -> None:
        self.calls = 0
        self.hang = False
        self.hanging = asyncio.Event()

    @activity.defn(name="reconcile_read_model")
    async def reconcile_read_model(self, input: ReconcileInput) -> ReconcileOutcome:
        self.calls += 1
        if self.calls == 1:
            raise ApplicationError("the read model is unreachable", non_retryable=True)
        while self.hang:
            self.hanging.set()
            activity.heartbeat()
            await asyncio.sleep(0.05)
        return ReconcileOutcome(checked=0, settled={})


@asynccontextmanager
async def reconciler_with(
    client: Client, reconcile_read_model: Callable[..., Any], every_seconds: float
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """A ReconcilerWorkflow passing every `every_seconds` with this reconcile activity,
    on a task queue and worker of its own."""
    queue = f"test-{uuid.uuid4()}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[ReconcilerWorkflow],
        activities=[reconcile_read_model],
        max_heartbeat_throttle_interval=timedelta(milliseconds=50),
        default_heartbeat_throttle_interval=timedelta(milliseconds=50),
    )
    async with worker:
        yield await client.start_workflow(
            ReconcilerWorkflow.run,
            ReconcileInput(every_seconds=every_seconds, passes_per_run=100),
            id=reconciler_id(queue),
            task_queue=queue,
        )


async def test_a_failed_pass_does_not_end_the_reconciler_and_a_cancel_does(
    temporal_client: Client,
) -> None:
    passes = ScriptedPasses()
    async with reconciler_with(temporal_client, passes.reconcile_read_model, 0.01) as handle:
        await eventually(lambda: passes.calls >= 3, timeout=30, what="passes after a failed one")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

        passes.hang = True
        await asyncio.wait_for(passes.hanging.wait(), timeout=30)
        await handle.cancel()

        async def closed() -> WorkflowExecutionStatus | None:
            status = (await handle.describe()).status
            return None if status == WorkflowExecutionStatus.RUNNING else status

        status = await eventually(closed, timeout=10, what="the reconciler to close")

    assert status == WorkflowExecutionStatus.CANCELED


async def test_a_shorter_interval_applies_at_once_not_after_the_sleep_under_way(
    temporal_client: Client,
) -> None:
    passes: list[float] = []

    @activity.defn(name="reconcile_read_model")
    async def reconcile_read_model(input: ReconcileInput) -> ReconcileOutcome:
        passes.append(input.every_seconds)
        return ReconcileOutcome(checked=0, settled={})

    async with reconciler_with(temporal_client, reconcile_read_model, 3600) as handle:
        await eventually(lambda: len(passes) == 1, timeout=30, what="the first pass")
        await handle.signal(ReconcilerWorkflow.reschedule, 0.1)

        await eventually(lambda: len(passes) >= 3, timeout=30, what="passes on the new interval")
        state = await handle.query(ReconcilerWorkflow.state)
        await handle.terminate(reason="test over")

    assert state["every_seconds"] == 0.1
