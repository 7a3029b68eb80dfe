"""The health and readiness endpoints (api/health.py)."""

from __future__ import annotations

from tests.conftest import Stack


async def test_health_and_readiness(stack: Stack) -> None:
    assert (await stack.http.get("/healthz")).json() == {"status": "ok"}
    ready = await stack.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "temporal": "ok"}
