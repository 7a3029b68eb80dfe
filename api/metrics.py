"""Prometheus metrics of the API: request latency by route and status, generations
created, and generations by status as the read model has them. Each app has its own
registry (no process globals). Stage durations and final statuses as they happen are
the worker's (`genflow_stage_duration`, `genflow_generations_finished`).

The counts cover every user, so `/metrics` wants `Authorization: Bearer
<GENFLOW_METRICS_TOKEN>` when that is set; without a token it is open in development
and refused in production."""

from __future__ import annotations

import hmac
import math
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genflow.db.models import utcnow
from genflow.db.repository import GenerationRepository
from genflow.db.statistics import backlog_of
from genflow.domain import STAGES, Status
from genflow.settings import Settings

from .problems import problem_response
from .state import app_state

STATUS_COUNT_SECONDS = 10.0


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "genflow_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.generations_created = Counter(
            "genflow_generations_created",
            "Generations created through the API (iterations included).",
            registry=self.registry,
        )
        self.generations = Gauge(
            "genflow_generations",
            "Generations in the read model by status (counted at most every 10 s).",
            ["status"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "genflow_backlog",
            "Stages waiting in Temporal's task queue for a worker slot, by stage "
            "(counted at most every 10 s).",
            ["stage"],
            registry=self.registry,
        )
        self.backlog_oldest = Gauge(
            "genflow_backlog_oldest_seconds",
            "How long the longest-waiting queued stage has waited (0: none waits).",
            registry=self.registry,
        )
        self.held = Gauge(
            "genflow_long_requests",
            "Open event streams and waiting `Prefer: wait` requests, by kind (all users).",
            ["kind"],
            registry=self.registry,
        )
        self.pollers = Gauge(
            "genflow_watched_generations",
            "Generations whose shared poller runs: one read per poll interval each.",
            registry=self.registry,
        )
        self.counted_at = -math.inf

    async def count_generations(self, repository: GenerationRepository) -> None:
        """Refresh the by-status gauge, at most every STATUS_COUNT_SECONDS: a scrape
        should not scan the table each time."""
        now = time.monotonic()
        if now - self.counted_at < STATUS_COUNT_SECONDS:
            return
        self.counted_at = now
        counts = await repository.count_by_status()
        for status in Status:
            self.generations.labels(status.value).set(counts.get(status.value, 0))
        async with repository.session_maker() as session:
            backlog = await backlog_of(session)
        for stage in STAGES:
            self.backlog.labels(stage.value).set(backlog.by_stage.get(stage.value, 0))
        oldest = backlog.oldest_queued_at
        self.backlog_oldest.set((utcnow() - oldest).total_seconds() if oldest else 0)


class MetricsMiddleware:
    """Times every request under its route template (`/v1/generations/{generation_id}`,
    never the raw path, so the label set stays small)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.request_seconds.labels(
                _route(scope), scope["method"], str(status)
            ).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    # The router leaves the matched route in the scope.
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))


def install_metrics(app: FastAPI, metrics: ApiMetrics) -> None:
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", summary="Prometheus metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        state = app_state(request)
        refused = _refusal(state.settings, request.headers.get("authorization", ""))
        if refused is not None:
            return refused
        await metrics.count_generations(state.repository)
        for kind in ("streams", "waits"):
            metrics.held.labels(kind).set(state.watching.total(kind))
        metrics.pollers.set(state.watching.pollers)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _refusal(settings: Settings, authorization: str) -> Response | None:
    """None if the caller may read /metrics; else the problem to answer."""
    if settings.metrics_token is None:
        if settings.environment == "development":
            return None
        return problem_response(403, "/metrics is off: set GENFLOW_METRICS_TOKEN to enable it.")
    scheme, _, token = authorization.partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected):
        return None
    return problem_response(
        401,
        "/metrics needs `Authorization: Bearer <GENFLOW_METRICS_TOKEN>`.",
        headers={"WWW-Authenticate": "Bearer"},
    )
