"""Temporal client and worker construction, shared by the API, the worker and the CLI."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.stages import StageActivities
from activities.store import StoreActivities
from activities.webhooks import WebhookActivities
from genflow import search_attributes as sa
from genflow.db.repository import GenerationRepository
from genflow.db.webhooks import WebhookSecretRepository
from genflow.pipeline.review import SandboxLimits
from genflow.providers import Provider
from genflow.providers.builtin import BuiltinProvider
from genflow.providers.openai_compat import OpenAICompatibleProvider
from genflow.settings import Settings
from genflow.tracing import tracing_interceptors
from workflows.generation import GenerationWorkflow
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


def build_worker(
    client: Client,
    settings: Settings,
    repository: GenerationRepository,
    stage_activities: StageActivities | None = None,
) -> Worker:
    """The genflow worker: the workflow plus the stage and store activities."""
    stages = stage_activities or StageActivities(
        repository,
        SandboxLimits(
            timeout_seconds=settings.sandbox_timeout_seconds,
            memory_mb=settings.sandbox_memory_mb,
            cpu_seconds=settings.sandbox_cpu_seconds,
        ),
        providers=providers_from(settings),
        run_generated_code=settings.run_generated_code,
    )
    store = StoreActivities(repository)
    webhooks = WebhookActivities(
        WebhookSecretRepository(repository.session_maker),
        httpx.AsyncClient(timeout=10, follow_redirects=False),
        settings.webhook_allow_private,
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[GenerationWorkflow, WebhookDeliveryWorkflow],
        activities=[
            stages.extract_schema,
            stages.generate_code,
            stages.review_code,
            stages.write_documentation,
            store.start_generation,
            store.await_approval,
            store.record_approved,
            store.complete_generation,
            store.fail_generation,
            store.record_cancelled,
            webhooks.deliver_webhook,
        ],
        # Send heartbeats at least every second so a cancel reaches a stage quickly.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
