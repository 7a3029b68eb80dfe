"""Webhooks with a receiver on loopback: signed per Standard Webhooks, retried with
the same webhook-id, stopped by 410, never changing the generation's outcome."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from api.app import create_app
from tests.conftest import Stack, serve


@dataclass
class Receiver:
    """Answers each delivery with the next scripted status (then 200) and records it."""

    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.received.append({"headers": dict(request.headers), "body": body})
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        return app


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server, task, base_url = await serve(found.app())
    found.url = f"{base_url}/hook"
    yield found
    server.should_exit = True
    await task


def verify(secret: str, delivery: dict[str, Any]) -> bool:
    headers = delivery["headers"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + delivery["body"]
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(f"v1,{expected}", candidate)
        for candidate in headers["webhook-signature"].split()
    )


async def settle(receiver: Receiver, count: int, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(receiver.received) < count:
        assert asyncio.get_running_loop().time() < deadline, receiver.received
        await asyncio.sleep(0.05)


async def test_deliveries_are_signed_and_cover_the_chosen_events(
    stack: Stack, receiver: Receiver
) -> None:
    user = "hook-user"
    created = await stack.create(user=user, webhook_url=receiver.url)
    await stack.wait_until(created["id"], lambda g: g["status"] == "completed", user=user)
    await settle(receiver, 6)  # started, 4 x stage.completed, completed
    secret = (await stack.http.get("/v1/webhooks/secret", headers=stack.auth(user))).json()[
        "secret"
    ]
    assert secret.startswith("whsec_")
    assert all(verify(secret, delivery) for delivery in receiver.received)
    types = sorted(json.loads(d["body"])["type"] for d in receiver.received)
    assert types == sorted(
        ["generation.started", "generation.completed"] + ["generation.stage.completed"] * 4
    )
    last = next(
        json.loads(d["body"]) for d in receiver.received if b"generation.completed" in d["body"]
    )
    assert last["data"]["generation_id"] == created["id"]
    assert last["data"]["quality_score"] == 100.0
    other = (await stack.http.get("/v1/webhooks/secret", headers=stack.auth("else"))).json()
    assert other["secret"] != secret


@pytest.mark.postgresql_only  # the schedule is the worker's, not the read model's
async def test_a_receiver_failing_twice_gets_the_third_try_with_the_same_id(
    stack: Stack, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    created = await stack.create(webhook_url=receiver.url, webhook_events=["completed"])
    done = await stack.finished(created["id"])
    await settle(receiver, 3)
    await asyncio.sleep(1.0)  # no fourth delivery after the 200
    assert done["status"] == "completed"
    ids = [d["headers"]["webhook-id"] for d in receiver.received]
    assert len(ids) == 3 and len(set(ids)) == 1


@pytest.mark.postgresql_only  # the schedule is the worker's, not the read model's
async def test_410_stops_deliveries_and_failures_never_change_the_outcome(
    stack: Stack, receiver: Receiver
) -> None:
    receiver.statuses = [410]
    created = await stack.create(webhook_url=receiver.url, webhook_events=["completed"])
    assert (await stack.finished(created["id"]))["status"] == "completed"
    await settle(receiver, 1)
    await asyncio.sleep(1.2)  # the schedule would have retried three times by now
    assert len(receiver.received) == 1

    receiver.statuses = [500] * 10
    receiver.received.clear()
    failing = await stack.create(webhook_url=receiver.url, prompt="Nothing to see.")
    done = await stack.finished(failing["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_requirements"
    await settle(receiver, 2)
    assert any(b"generation.failed" in d["body"] for d in receiver.received)


async def test_private_addresses_are_refused_unless_allowed(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"webhook_allow_private": False})
    server, task, base_url = await serve(
        create_app(settings, engine=stack.engine, temporal=stack.temporal)
    )
    user = "hook-refused"
    try:
        refused = [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/hook",
            "http://[fe80::1]/hook",
            "http://localhost/hook",
            "ftp://example.com/x",
            "http://[::1/hook",
            "http://example.com:99999/hook",
            "http://" + "a" * 100 + ".example/hook",
        ]
        for url in refused:
            response = await stack.http.post(
                f"{base_url}/v1/generations",
                json={"prompt": "Cat has name.", "webhook_url": url},
                headers=stack.auth(user),
            )
            assert response.status_code == 422, url
            assert response.json()["errors"][0]["loc"] == ["body", "webhook_url"]
        events_alone = await stack.http.post(
            f"{base_url}/v1/generations",
            json={"prompt": "Cat has name.", "webhook_events": ["completed"]},
            headers=stack.auth(user),
        )
        assert events_alone.status_code == 422
    finally:
        server.should_exit = True
        await task
    rows, _ = await stack.repository.list_for_user(user)
    assert rows == []
