"""The Temporal client, shared by the API, the worker and the supervisor."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from genflow import search_attributes as sa
from genflow.settings import Settings
from genflow.tracing import tracing_interceptors


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
