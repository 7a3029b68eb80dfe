"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from genflow.db.engine import make_engine, make_session_maker
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.db.statistics import StatisticsRepository
from genflow.db.webhooks import WebhookSecretRepository
from genflow.settings import Settings
from genflow.temporal import connect

from . import health
from .docs import install_docs
from .generations import approval, artifacts, endpoints, events
from .metrics import ApiMetrics, install_metrics
from .middleware import (
    BodyLimitMiddleware,
    JsonBodyMiddleware,
    UnhandledErrorMiddleware,
    install_client_headers,
)
from .openapi import install_openapi
from .problems import install_problem_handlers
from .projects import endpoints as projects
from .ratelimit import CreateWindows
from .state import STATE_KEY, AppState
from .watching import Watching
from .webhooks import endpoints as webhooks


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """Build the app. Settings, engine and Temporal client are made once, in the
    lifespan, unless passed in (tests share theirs). Without a signing secret there is
    no API: MissingSecret, in every environment."""
    settings = settings or Settings()
    settings.signing_secret()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        own_engine = engine is None
        db = engine or make_engine(settings.resolved_database_url)
        try:
            client = temporal or await connect(
                settings, wait_seconds=30, service_name=f"{settings.otel_service_name}-api"
            )
            sessions = make_session_maker(db)
            # Long-lived start-up objects leave the collector's sight: fewer, shorter
            # collections while requests allocate ORM objects.
            gc.freeze()
            yield {
                STATE_KEY: AppState(
                    settings=settings,
                    repository=GenerationRepository(sessions),
                    projects=ProjectRepository(sessions),
                    statistics=StatisticsRepository(sessions),
                    webhook_secrets=WebhookSecretRepository(sessions),
                    temporal=client,
                    metrics=metrics,
                    watching=Watching(
                        sessions,
                        settings.watch_poll_seconds,
                        settings.max_streams_per_user,
                        settings.max_waits_per_user,
                    ),
                    windows=CreateWindows(),
                )
            }
        finally:
            if own_engine:
                await db.dispose()

    app = FastAPI(
        title="genflow",
        version="0.1.0",
        summary="A durable backend for AI code generation.",
        description="Every generation is a Temporal workflow. Authenticate with "
        "`Authorization: Bearer <JWT>` (`genflow token USER` prints one). Errors are "
        "`application/problem+json` (RFC 9457).",
        lifespan=lifespan,
        # Served by api/docs.py from this process, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_openapi(app)
    install_docs(app)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware)  # outside it: an oversized body is 413 first
    app.add_middleware(UnhandledErrorMiddleware)
    install_metrics(app, metrics)
    install_client_headers(app, settings)
    app.include_router(health.router)
    for router in (endpoints, approval, events, artifacts):  # the generation resource
        app.include_router(router.router)
    app.include_router(projects.router)
    app.include_router(webhooks.router)
    return app
