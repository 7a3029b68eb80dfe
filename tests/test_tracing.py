"""OpenTelemetry tracing: a generation started through the API and run by a worker is
one trace, exported over OTLP/HTTP to a collector on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from genflow.auth import issue_token
from genflow.db.engine import make_session_maker
from genflow.db.repository import GenerationRepository
from genflow.settings import Settings
from genflow.temporal import connect
from genflow.tracing import flush_tracing, shutdown_tracing, traces_endpoint, tracing_interceptors
from tests import conftest
from tests.conftest import LIBRARY, SECRET, closed, serve
from worker.assembly import build_worker


@dataclass
class Span:
    name: str
    trace_id: str
    attributes: dict[str, str]
    resource: dict[str, str]


@dataclass
class Collector:
    """An OTLP/HTTP trace receiver that keeps what it is sent."""

    spans: list[Span] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/traces")
        async def traces(request: Request) -> Response:
            self.content_types.add(request.headers.get("content-type", ""))
            export = ExportTraceServiceRequest.FromString(await request.body())
            for resource_spans in export.resource_spans:
                resource = _strings(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            Span(
                                span.name,
                                span.trace_id.hex(),
                                _strings(span.attributes),
                                resource,
                            )
                        )
            return Response(
                ExportTraceServiceResponse().SerializeToString(),
                media_type="application/x-protobuf",
            )

        return app


def _strings(attributes: Any) -> dict[str, str]:
    pairs: list[KeyValue] = list(attributes)
    return {pair.key: pair.value.string_value for pair in pairs}


def test_without_an_endpoint_there_is_no_tracing() -> None:
    settings = Settings(otlp_endpoint=None)
    assert settings.otlp_endpoint is None
    assert tracing_interceptors(settings) == []


def test_endpoint_from_genflow_or_standard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENFLOW_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert Settings().otlp_endpoint == "http://collector:4318"
    monkeypatch.setenv("GENFLOW_OTLP_ENDPOINT", "http://genflow-collector:4318/")
    assert Settings().otlp_endpoint == "http://genflow-collector:4318/"
    assert traces_endpoint("http://genflow-collector:4318/") == (
        "http://genflow-collector:4318/v1/traces"
    )
    assert traces_endpoint("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


async def test_a_generation_is_one_trace_from_api_to_activities(
    database_url: str, migrated_engine: AsyncEngine, temporal_address: str
) -> None:
    collector = Collector()
    collector_server, collector_task, collector_url = await serve(collector.app())
    service = f"genflow-test-{uuid.uuid4().hex[:8]}"
    settings = conftest.test_settings(
        database_url,
        temporal_address,
        otlp_endpoint=collector_url,
        otel_service_name=service,
        run_generated_code=False,
    )
    try:
        client = await connect(settings)
        repository = GenerationRepository(make_session_maker(migrated_engine))
        worker = build_worker(client, settings, repository)
        api_server, api_task, api_url = await serve(
            create_app(settings, engine=migrated_engine, temporal=client)
        )
        headers = {"Authorization": f"Bearer {issue_token('tracer', SECRET, 3600)}"}
        try:
            async with worker, httpx.AsyncClient(base_url=api_url, timeout=30) as http:
                response = await http.post(
                    "/v1/generations", json={"prompt": LIBRARY}, headers=headers
                )
                assert response.status_code == 202, response.text
                created = response.json()
                await closed(client.get_workflow_handle(created["workflow_id"]), timeout=30)
        finally:
            api_server.should_exit = True
            await api_task
        # The exporter posts from its own thread to the collector on this loop.
        assert await asyncio.to_thread(flush_tracing, 10_000)
    finally:
        await asyncio.to_thread(shutdown_tracing)
        collector_server.should_exit = True
        await collector_task

    workflow_id = created["workflow_id"]
    ours = [s for s in collector.spans if s.attributes.get("temporalWorkflowID") == workflow_id]
    names = Counter(s.name for s in ours)
    for expected in (
        "StartWorkflow:GenerationWorkflow",
        "RunWorkflow:GenerationWorkflow",
        "StartActivity:extract_schema",
        "RunActivity:extract_schema",
        "RunActivity:generate_code",
        "RunActivity:review_code",
        "RunActivity:write_documentation",
        "CompleteWorkflow:GenerationWorkflow",
    ):
        assert names[expected] >= 1, (expected, sorted(names))
    assert names["StartWorkflow:GenerationWorkflow"] == 1
    assert len({s.trace_id for s in ours}) == 1, {(s.name, s.trace_id) for s in ours}
    assert {s.resource.get("service.name") for s in ours} == {service}
    assert collector.content_types == {"application/x-protobuf"}
