"""Worker assembly: the workflows and activities one worker process serves."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from types import TracebackType
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.reconcile import ReconcileActivities
from activities.retention import RetentionActivities
from activities.stages import StageActivities
from activities.store import StoreActivities
from activities.webhooks import WebhookActivities
from genflow.db.repository import GenerationRepository
from genflow.db.retention import RetentionRepository
from genflow.db.webhooks import WebhookSecretRepository
from genflow.domain import sandbox_task_queue
from genflow.pipeline.sandbox.bubblewrap import Sandbox, SandboxLimits
from genflow.providers import Provider
from genflow.providers.builtin import BuiltinProvider
from genflow.providers.openai_compat import OpenAICompatibleProvider
from genflow.reconcile import Reconciler
from genflow.settings import Settings
from genflow.webhooks import SystemResolver, WebhookAddresses
from workflows.generation import GenerationWorkflow
from workflows.reconcile import ReconcilerWorkflow, ReconcileWorkflow
from workflows.retention import RetentionWorkflow
from workflows.webhook import WebhookDeliveryWorkflow


def providers_from(settings: Settings) -> dict[str, Provider]:
    """Every provider this worker offers, configured from settings."""
    return {
        "builtin": BuiltinProvider(),
        "openai": OpenAICompatibleProvider.from_settings(settings),
    }


class GenflowWorker:
    """The Temporal workers of one process, run and stopped together.

    - orchestration, on `settings.task_queue`: the workflows, the light stages and the
      read-model writes, at most `workflow_task_slots` and `activity_slots` at a time;
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
        run_memory_mb=settings.sandbox_run_memory_mb,
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
        attempt_seconds=settings.stage_attempt_seconds,
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
            # No proxy from the environment: the connection goes to the checked address.
            httpx.AsyncClient(timeout=10, follow_redirects=False, trust_env=False),
            WebhookAddresses.from_settings(settings, SystemResolver.from_settings(settings)),
        )
        workers.append(
            Worker(
                client,
                task_queue=settings.task_queue,
                workflows=[
                    GenerationWorkflow,
                    WebhookDeliveryWorkflow,
                    ReconcilerWorkflow,
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
                # Take only what this process can run: the backlog stays in Temporal's
                # queue, where priority and fairness order it (genflow/fairness.py). No
                # eager activities either: they would skip that queue.
                max_concurrent_workflow_tasks=settings.workflow_task_slots,
                max_concurrent_activities=settings.activity_slots,
                disable_eager_activity_execution=True,
                sticky_queue_schedule_to_start_timeout=timedelta(
                    seconds=settings.sticky_queue_seconds
                ),
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
