"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from genflow.db.engine import make_engine, make_session_maker
from genflow.db.repository import GenerationRepository
from genflow.settings import Settings
from genflow.temporal import connect

from .problems import install_problem_handlers
from .routers import generations, health


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """Build the app. Settings, engine and Temporal client are made once, in the
    lifespan, unless passed in (tests share theirs)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        own_engine = engine is None
        db = engine or make_engine(settings.resolved_database_url)
        try:
            client = temporal or await connect(settings, wait_seconds=30)
            yield {
                "settings": settings,
                "repository": GenerationRepository(make_session_maker(db)),
                "temporal": client,
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
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(generations.router)
    return app
