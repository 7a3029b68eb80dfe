"""Temporal client and worker construction, shared by the API, the worker and the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from types import TracebackType
from typing import Any

import httpx
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
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
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.reconcile import ReconcileActivities
from activities.retention import RetentionActivities
from activities.stages import StageActivities
from activities.store import StoreActivities
from activities.webhooks import WebhookActivities
from genflow import search_attributes as sa
from genflow.db.repository import GenerationRepository
from genflow.db.retention import RetentionRepository
from genflow.db.webhooks import WebhookSecretRepository
from genflow.domain import sandbox_task_queue
from genflow.pipeline.sandbox import Sandbox, SandboxLimits
from genflow.providers import Provider
from genflow.providers.builtin import BuiltinProvider
from genflow.providers.openai_compat import OpenAICompatibleProvider
from genflow.reconcile import Reconciler
from genflow.settings import Settings
from genflow.tracing import tracing_interceptors
from workflows.generation import GenerationWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.retention import RetentionWorkflow
from workflows.types import ReconcileInput, RetentionInput
from workflows.webhook import WebhookDeliveryWorkflow


async def connect(
    settings: Settings,
    wait_seconds: float = 0,
    runtime: Runtime | None = None,
    service_name: str | None = None,
) -> Client:
    """Connect to Temporal, retrying for up to `wait_seconds` while it starts. With an
    OTLP endpoint configured, the client (and workers built from it) trace through
    OpenTelemetry as `service_name` (default: `settings.otel_service_name`)."""
    interceptors = tracing_interceptors(settings, service_name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await Client.connect(
                settings.resolved_temporal_address,
                namespace=settings.temporal_namespace,
                runtime=runtime,
                interceptors=interceptors,
            )
        except RuntimeError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.5)


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Register the five search attributes on an existing cluster (no-op if present)."""
    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DOUBLE": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    }
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={key.name: kinds[key.indexed_value_type.name] for key in sa.ALL},
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime that serves Prometheus metrics (Temporal's and those genflow
    records through `activity.metric_meter()`), when a port is configured."""
    if settings.worker_metrics_port is None:
        return None
    address = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def providers_from(settings: Settings) -> dict[str, Provider]:
    """Every provider this worker offers, configured from settings."""
    return {
        "builtin": BuiltinProvider(),
        "openai": OpenAICompatibleProvider.from_settings(settings),
    }


class GenflowWorker:
    """The Temporal workers of one process, run and stopped together.

    - orchestration, on `settings.task_queue`: the workflows, the light stages and the
      read-model writes;
    - sandbox, on the sandbox queue beside it: the review, which runs generated code,
      at most `settings.sandbox_slots` at a time. Reviews beyond that wait in
      Temporal's queue (no schedule-to-start timeout), not in this process.
    """

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._stack: AsyncExitStack | None = None

    async def run(self) -> None:
        await asyncio.gather(*(worker.run() for worker in self.workers))

    async def shutdown(self) -> None:
        await asyncio.gather(*(worker.shutdown() for worker in self.workers))

    async def __aenter__(self) -> GenflowWorker:
        async with AsyncExitStack() as stack:
            for worker in self.workers:
                await stack.enter_async_context(worker)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            await self._stack.__aexit__(exc_type, exc, traceback)
            self._stack = None


def sandbox_limits(settings: Settings) -> SandboxLimits:
    return SandboxLimits(
        timeout_seconds=settings.sandbox_timeout_seconds,
        memory_mb=settings.sandbox_memory_mb,
        cpu_seconds=settings.sandbox_cpu_seconds,
        processes=settings.sandbox_processes,
        file_size_mb=settings.sandbox_file_size_mb,
        disk_mb=settings.sandbox_disk_mb,
        tmp_size_mb=settings.sandbox_tmp_size_mb,
    )


def sandbox_from(settings: Settings) -> Sandbox | None:
    """The OS sandbox of generated code; None only with the unsafe setting."""
    return None if settings.unsafe_run_without_sandbox else Sandbox(bwrap=settings.sandbox_bwrap)


def build_worker(
    client: Client,
    settings: Settings,
    repository: GenerationRepository,
    stage_activities: StageActivities | None = None,
) -> GenflowWorker:
    """The genflow workers of `settings.worker_role` ("all": both; see GenflowWorker)."""
    stages = stage_activities or StageActivities(
        repository,
        sandbox_limits(settings),
        providers=providers_from(settings),
        run_generated_code=settings.run_generated_code,
        sandbox=sandbox_from(settings),
    )
    heartbeats: dict[str, Any] = {
        # Send heartbeats at least every second so a cancel reaches a stage quickly.
        "max_heartbeat_throttle_interval": timedelta(seconds=1),
        "default_heartbeat_throttle_interval": timedelta(seconds=1),
        "graceful_shutdown_timeout": timedelta(seconds=5),
    }
    workers = []
    if settings.worker_role in ("all", "orchestration"):
        store = StoreActivities(repository)
        reconcile = ReconcileActivities(Reconciler(repository, client))
        retention = RetentionActivities(RetentionRepository(repository.session_maker))
        webhooks = WebhookActivities(
            WebhookSecretRepository(repository.session_maker),
            httpx.AsyncClient(timeout=10, follow_redirects=False),
            settings.webhook_allow_private,
        )
        workers.append(
            Worker(
                client,
                task_queue=settings.task_queue,
                workflows=[
                    GenerationWorkflow,
                    WebhookDeliveryWorkflow,
                    ReconcileWorkflow,
                    RetentionWorkflow,
                ],
                activities=[
                    stages.extract_schema,
                    stages.generate_code,
                    stages.write_documentation,
                    store.start_generation,
                    store.await_approval,
                    store.record_approved,
                    store.complete_generation,
                    store.fail_generation,
                    store.record_cancelled,
                    webhooks.deliver_webhook,
                    reconcile.reconcile_read_model,
                    retention.purge_expired,
                ],
                **heartbeats,
            )
        )
    if settings.worker_role in ("all", "sandbox"):
        workers.append(
            Worker(
                client,
                task_queue=sandbox_task_queue(settings.task_queue),
                activities=[stages.review_code],
                max_concurrent_activities=settings.sandbox_slots,
                **heartbeats,
            )
        )
    return GenflowWorker(workers)


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
