"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .deps import RepositoryDep, TemporalDep

router = APIRouter(tags=["health"])
SERVICE_VERSION = version("genflow")


@router.get("/", summary="The service: its name, version and where to start")
async def service_root() -> dict[str, object]:
    return {
        "name": "genflow",
        "version": SERVICE_VERSION,
        "description": "A durable backend for AI code generation.",
        "links": {
            "docs": "/docs",
            "openapi": "/openapi.json",
            "generations": "/v1/generations",
            "health": "/healthz",
        },
    }


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


READINESS = {
    "type": "object",
    "properties": {
        "status": {"enum": ["ready", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["status", "checks"],
}


@router.get(
    "/readyz",
    summary="Readiness: database and Temporal reachable",
    responses={
        200: {
            "description": "Both reachable",
            "content": {"application/json": {"schema": READINESS}},
        },
        503: {
            "description": "Either unreachable; `checks` says which",
            "content": {"application/json": {"schema": READINESS}},
        },
    },
)
async def readyz(repository: RepositoryDep, temporal: TemporalDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(repository.ping(), 5)
        checks["database"] = "ok"
    except Exception as err:
        checks["database"] = f"unavailable: {type(err).__name__}"
    try:
        await asyncio.wait_for(temporal.service_client.check_health(), 5)
        checks["temporal"] = "ok"
    except Exception as err:
        checks["temporal"] = f"unavailable: {type(err).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
