"""The durable maintenance schedules of a task queue (reconcile, retention)."""

from __future__ import annotations

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

from genflow.contracts import ReconcileInput, RetentionInput
from genflow.settings import Settings
from workflows.reconcile import ReconcileWorkflow
from workflows.retention import RetentionWorkflow


def reconcile_schedule_id(task_queue: str) -> str:
    return f"reconcile-{task_queue}"


def retention_schedule_id(task_queue: str) -> str:
    return f"retention-{task_queue}"


def maintenance_schedules(settings: Settings) -> dict[str, Schedule]:
    """The durable schedules of one task queue, by id: the reconciler (every
    `reconcile_every_seconds`) and the retention purge (every `retention_every_seconds`).
    Operators see them under Schedules in the Web UI."""
    queue = settings.task_queue

    def every(seconds: float, action: ScheduleActionStartWorkflow) -> Schedule:
        return Schedule(
            action=action,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )

    return {
        reconcile_schedule_id(queue): every(
            settings.reconcile_every_seconds,
            ScheduleActionStartWorkflow(
                ReconcileWorkflow.run,
                ReconcileInput(),
                id=reconcile_schedule_id(queue),
                task_queue=queue,
                execution_timeout=timedelta(minutes=10),
                static_summary="Settle generations whose workflow closed without telling the "
                "read model (Terminate, Reset, timeouts)",
            ),
        ),
        retention_schedule_id(queue): every(
            settings.retention_every_seconds,
            ScheduleActionStartWorkflow(
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
        ),
    }


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the maintenance schedules of this task queue; a schedule that exists is
    brought up to date with these settings."""
    for schedule_id, schedule in maintenance_schedules(settings).items():
        try:
            await client.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).update(_replace_with(schedule))


def _replace_with(schedule: Schedule) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    def updater(_current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    return updater
