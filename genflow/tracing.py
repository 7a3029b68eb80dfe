"""Optional OpenTelemetry tracing of Temporal calls, on when an OTLP endpoint is set.

`temporalio.contrib.opentelemetry.TracingInterceptor` on the Temporal client makes spans
for what the client does (`StartWorkflow:GenerationWorkflow`, ...) and, on a worker built
from that client, for what the worker runs (`RunWorkflow:...`, `StartActivity:...`,
`RunActivity:...`), carrying the trace context through workflow and activity headers, so
one generation is one trace from the API's start to its last activity. Spans go through
a batch processor to `<otlp_endpoint>/v1/traces` as OTLP/HTTP protobuf.

The tracer provider is genflow's own, never installed as OpenTelemetry's global one.
It is flushed when the process exits; `shutdown_tracing()` flushes it sooner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.client import Interceptor

from genflow.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

TRACES_PATH = "/v1/traces"

# One provider (and so one export thread) per endpoint and service name in a process.
_providers: dict[tuple[str, str], TracerProvider] = {}


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL for a base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT
    means it: the signal path appended (kept if the URL already ends with it)."""
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def tracer_provider(settings: Settings, service_name: str | None = None) -> TracerProvider | None:
    """The process's tracer provider for this endpoint and service name, made on first
    use; None when no OTLP endpoint is configured."""
    if settings.otlp_endpoint is None:
        return None
    # Imported here: processes without tracing skip their import time (~0.3 s).
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = service_name or settings.otel_service_name
    key = (traces_endpoint(settings.otlp_endpoint), name)
    provider = _providers.get(key)
    if provider is None:
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=key[0])))
        _providers[key] = provider
    return provider


def tracing_interceptors(settings: Settings, service_name: str | None = None) -> list[Interceptor]:
    """Interceptors for `Client.connect`: a tracing interceptor when an OTLP endpoint is
    configured, else none. Workers built from the client trace with it too."""
    provider = tracer_provider(settings, service_name)
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("genflow"))]


def flush_tracing(timeout_millis: int = 30_000) -> bool:
    """Export every span ended so far; False if that did not finish in time. Blocking:
    from async code, call it through `asyncio.to_thread`."""
    return all(provider.force_flush(timeout_millis) for provider in list(_providers.values()))


def shutdown_tracing() -> None:
    """Flush and stop every tracer provider (blocking, like `flush_tracing`). Later
    connects make new ones."""
    while _providers:
        _key, provider = _providers.popitem()
        provider.shutdown()
