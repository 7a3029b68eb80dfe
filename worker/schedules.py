"""The durable housekeeping of a task queue: the long-lived reconciler workflow and the
retention Schedule."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from genflow.contracts import ReconcileInput, RetentionInput
from genflow.settings import Settings
from workflows.reconcile import ReconcilerWorkflow
from workflows.retention import RetentionWorkflow


def reconcile_schedule_id(task_queue: str) -> str:
    """The Schedule that fired one reconcile pass at a time (earlier releases)."""
    return f"reconcile-{task_queue}"


def reconciler_id(task_queue: str) -> str:
    """The workflow id of the task queue's long-lived reconciler."""
    return f"reconcile-{task_queue}"


def retention_schedule_id(task_queue: str) -> str:
    return f"retention-{task_queue}"


def maintenance_schedules(settings: Settings) -> dict[str, Schedule]:
    """The durable schedules of one task queue, by id: the retention purge (every
    `retention_every_seconds`). Operators see it under Schedules in the Web UI. (The
    reconciler is one long-lived workflow instead: `start_reconciler`.)"""
    queue = settings.task_queue
    return {
        retention_schedule_id(queue): Schedule(
            action=ScheduleActionStartWorkflow(
                RetentionWorkflow.run,
                RetentionInput(
                    idempotency_ttl_hours=settings.idempotency_ttl_hours,
                    tombstone_ttl_hours=settings.tombstone_ttl_hours,
                    generation_retention_days=settings.generation_retention_days,
                ),
                id=retention_schedule_id(queue),
                task_queue=queue,
                execution_timeout=timedelta(hours=1),
                static_summary="Purge expired idempotency keys, old tombstones and orphaned "
                "inputs (and finished generations past the retention, if set)",
            ),
            spec=ScheduleSpec(
                intervals=[
                    ScheduleIntervalSpec(every=timedelta(seconds=settings.retention_every_seconds))
                ]
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ),
    }


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the housekeeping of this task queue (a schedule that exists is brought up
    to date with these settings) and start its reconciler unless it runs."""
    for schedule_id, schedule in maintenance_schedules(settings).items():
        try:
            await client.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).update(_replace_with(schedule))
    await start_reconciler(client, settings)


async def start_reconciler(client: Client, settings: Settings) -> None:
    """Start the task queue's ReconcilerWorkflow, or reach the one that runs and give it
    this worker's interval. An operator's Terminate of it is undone here, at the next
    worker start. The per-pass Schedule of earlier releases is deleted."""
    queue = settings.task_queue
    try:
        await client.get_schedule_handle(reconcile_schedule_id(queue)).delete()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:  # else a new install, or already gone
            raise
    handle = await client.start_workflow(
        ReconcilerWorkflow.run,
        ReconcileInput(
            every_seconds=settings.reconcile_every_seconds,
            passes_per_run=settings.reconcile_passes_per_run,
        ),
        id=reconciler_id(queue),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary="Settles generations whose workflow closed without telling the read "
        "model (Terminate, Reset, timeouts): one pass every few seconds",
    )
    await handle.signal(ReconcilerWorkflow.reschedule, settings.reconcile_every_seconds)


async def stop_housekeeping(client: Client, settings: Settings) -> None:
    """Delete the task queue's schedules and terminate its reconciler (a test stack
    that goes away)."""
    for schedule_id in maintenance_schedules(settings):
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(schedule_id).delete()
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(reconciler_id(settings.task_queue)).terminate(
            reason="the task queue's stack stopped"
        )


def _replace_with(schedule: Schedule) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    def updater(_current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    return updater
