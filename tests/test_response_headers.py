"""What clients read on every response: the `RateLimit-*` fields of the caller's
creates-per-minute quota (deleted generations still count), `X-Request-ID` (also in
the log lines of the request), and CORS when configured."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from genflow.db.models import DeletedGeneration
from tests.conftest import LIBRARY, Stack, serve
from tests.support import eventually
from tests.test_logs import Lines, lines  # noqa: F401 (the fixture)

QUOTA = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@asynccontextmanager
async def api_with(stack: Stack, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second API on the stack's database and Temporal, with changed settings."""
    engine = changes.pop("engine", stack.engine)
    settings = stack.settings.model_copy(update=changes)
    server, task, base_url = await serve(
        create_app(settings, engine=engine, temporal=stack.temporal)
    )
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def test_every_authenticated_answer_reports_the_create_quota(stack: Stack) -> None:
    user = f"quota-{uuid.uuid4().hex[:8]}"
    limit = stack.settings.max_creates_per_minute
    fresh = await stack.http.get("/v1/generations", headers=stack.auth(user))
    assert [fresh.headers[name] for name in QUOTA] == [str(limit), str(limit), "0", f"{limit};w=60"]

    created = await stack.http.post(
        "/v1/generations", json={"prompt": LIBRARY}, headers=stack.auth(user)
    )

    assert created.status_code == 202
    assert created.headers["ratelimit-remaining"] == str(limit - 1)
    assert 1 <= int(created.headers["ratelimit-reset"]) <= 60
    answers = [
        await stack.http.get(f"/v1/generations/{uuid.uuid4()}", headers=stack.auth(user)),
        await stack.http.get("/v1/no-such-route", headers=stack.auth(user)),
        await stack.http.post("/v1/generations", json={"prompt": ""}, headers=stack.auth(user)),
    ]
    assert [a.status_code for a in answers] == [404, 404, 422]
    for answer in answers:
        assert answer.headers["ratelimit-remaining"] == str(limit - 1), answer.request.url
    anonymous = await stack.http.get("/v1/generations")
    assert anonymous.status_code == 401
    assert not any(name in anonymous.headers for name in QUOTA)


async def test_the_quota_stays_exact_under_concurrent_creates_and_replicas(
    stack: Stack,
) -> None:
    """The fields are kept between requests, not read per request: concurrent creates
    of one user are each counted once, and a create on another API (a replica) shows
    on this one within a second."""
    user = f"burst-{uuid.uuid4().hex[:8]}"
    limit = stack.settings.max_creates_per_minute
    headers = stack.auth(user)
    await stack.http.get("/v1/generations", headers=headers)  # a window is kept

    async def create() -> httpx.Response:
        return await stack.http.post("/v1/generations", json={"prompt": LIBRARY}, headers=headers)

    created = await asyncio.gather(*(create() for _ in range(12)))
    assert [c.status_code for c in created] == [202] * 12
    # Each answer saw at least its own create and at most all of them.
    remaining = sorted(int(c.headers["ratelimit-remaining"]) for c in created)
    assert limit - 12 <= remaining[0] and remaining[-1] <= limit - 1
    after = await stack.http.get("/v1/generations", headers=headers)
    assert after.headers["ratelimit-remaining"] == str(limit - 12)

    async with api_with(stack) as replica:
        other = await replica.post("/v1/generations", json={"prompt": LIBRARY}, headers=headers)
        assert other.status_code == 202 and other.headers["ratelimit-remaining"] == str(limit - 13)

    async def seen_here() -> bool:
        answer = await stack.http.get("/v1/generations", headers=headers)
        return answer.headers["ratelimit-remaining"] == str(limit - 13)

    await eventually(seen_here, timeout=5, what="the replica's create in RateLimit-Remaining")


async def test_deleting_generations_does_not_free_the_create_quota(stack: Stack) -> None:
    user = f"deleter-{uuid.uuid4().hex[:8]}"
    async with api_with(stack, max_creates_per_minute=2) as http:
        ids = []
        for _ in range(2):
            response = await http.post(
                "/v1/generations", json={"prompt": LIBRARY}, headers=stack.auth(user)
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        for generation_id in ids:
            deleted = await http.delete(
                f"/v1/generations/{generation_id}", headers=stack.auth(user)
            )
            assert deleted.status_code == 204

        refused = await http.post(
            "/v1/generations", json={"prompt": LIBRARY}, headers=stack.auth(user)
        )

    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["ratelimit-reset"]) <= 60
    rows, _ = await stack.repository.list_for_user(user)
    assert rows == []
    async with stack.engine.connect() as connection:
        tombstones = (
            await connection.execute(
                select(DeletedGeneration.user_id).where(
                    DeletedGeneration.id.in_([uuid.UUID(i) for i in ids])
                )
            )
        ).all()
    assert sorted(tombstones) == [(user,), (user,)]


@pytest.mark.postgresql_only  # a header of the HTTP layer, whatever the read model
async def test_the_request_id_is_echoed_or_made_on_every_answer(stack: Stack) -> None:
    mine = await stack.http.get(
        "/v1/generations", headers={**stack.auth(), "X-Request-ID": "client-42:a/b=c"}
    )
    assert mine.headers["x-request-id"] == "client-42:a/b=c"
    for unsafe in (b"x" * 129, b"has space", b"<script>", b"semi;colon", "é".encode()):
        replaced = await stack.http.get("/healthz", headers=[(b"X-Request-ID", unsafe)])
        assert GENERATED_ID.fullmatch(replaced.headers["x-request-id"]), unsafe
    answers = [
        await stack.http.get("/healthz"),
        await stack.http.get("/v1/generations"),  # 401
        await stack.http.get("/v1/no-such-route"),  # 404
        await stack.http.get(f"/v1/generations/{uuid.uuid4()}", headers=stack.auth()),  # 404
        await stack.http.post("/v1/generations", json={"nope": 1}, headers=stack.auth()),  # 422
        await stack.http.post(
            "/v1/generations", content=b"x" * (1024 * 1024 + 1), headers=stack.auth()
        ),  # 413
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 404, 422, 413]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(GENERATED_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)


@pytest.mark.postgresql_only  # log lines of the API, whatever the read model
async def test_every_log_line_of_a_request_carries_its_id(
    stack: Stack,
    lines: Lines,  # noqa: F811
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    response = await stack.http.post(
        "/v1/generations",
        json={"prompt": LIBRARY},
        headers={**stack.auth(), "X-Request-ID": request_id},
    )
    assert response.status_code == 202
    entries = [json.loads(line) for line in lines.lines]
    created = [e for e in entries if e["message"] == "generation created for alice"]
    assert [
        e.get("request_id") for e in created if e["generation_id"] == response.json()["id"]
    ] == [request_id]
    # The test's own client logs the same exchange outside the API's request: no id.
    client_lines = [e for e in entries if e["logger"] == "httpx"]
    assert client_lines and all("request_id" not in e for e in client_lines)


@pytest.mark.postgresql_only  # the outage is a PostgreSQL server that is not there
async def test_an_outage_answer_still_carries_the_request_id(stack: Stack) -> None:
    nowhere = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        async with api_with(stack, engine=nowhere) as http:
            answer = await http.get(
                "/v1/generations", headers={**stack.auth(), "X-Request-ID": "outage-1"}
            )
            metrics = await http.get("/metrics")
    finally:
        await nowhere.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.headers["x-request-id"] == "outage-1"
    assert not any(name in answer.headers for name in QUOTA)  # not countable now
    assert metrics.status_code == 503  # the outage answer, not a bare 500
    assert metrics.headers["x-request-id"]


@pytest.mark.postgresql_only  # a header of the HTTP layer, whatever the read model
async def test_cors_is_off_by_default_and_exposes_the_client_headers_when_on(
    stack: Stack,
) -> None:
    origin = "https://app.example"
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    off = await stack.http.get("/v1/generations", headers={**stack.auth(), "Origin": origin})
    assert "access-control-allow-origin" not in off.headers
    off_preflight = await stack.http.options("/v1/generations", headers=preflight)
    assert "access-control-allow-origin" not in off_preflight.headers

    async with api_with(stack, cors_origins=[origin]) as http:
        allowed = await http.options("/v1/generations", headers=preflight)
        simple = await http.get("/v1/generations", headers={**stack.auth(), "Origin": origin})
        stranger = await http.get(
            "/v1/generations", headers={**stack.auth(), "Origin": "https://evil.example"}
        )

    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "Idempotency-Key" in allowed.headers["access-control-allow-headers"]
    assert allowed.headers["x-request-id"]
    assert simple.headers["access-control-allow-origin"] == origin
    exposed = {
        h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")
    }
    assert exposed >= {
        "etag",
        "location",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-request-id",
        "preference-applied",
    }
    assert "access-control-allow-origin" not in stranger.headers
