"""Webhooks with a receiver on loopback: signed per Standard Webhooks (with the old and
the new secret during a rotation's grace), retried with the same webhook-id, stopped
by 410, never changing the generation's outcome; `awaiting_approval` when a
generation starts waiting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from genflow.db.engine import make_session_maker
from genflow.db.webhooks import WebhookSecretRepository
from genflow.domain import workflow_id_for
from tests.conftest import Stack, closed, eventually, serve


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


@pytest.fixture(name="receiver")
async def receiver_fixture() -> AsyncIterator[Receiver]:
    """A loopback receiver of webhooks (tests/test_webhook_addresses.py uses it too)."""
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
    await eventually(
        lambda: len(receiver.received) >= count,
        timeout=timeout,
        what=lambda: f"{count} deliveries; received {receiver.received}",
    )


async def delivery_outcome(stack: Stack, generation_id: str, event: str) -> str:
    """The result of the workflow delivering `event` ("delivered", "gone", ...): once
    it is known, no other attempt of that delivery can come. The generation's workflow
    starts it before it closes (the read model says `completed` a little earlier)."""
    await closed(stack.temporal.get_workflow_handle(workflow_id_for(generation_id)))
    handle = stack.temporal.get_workflow_handle(f"webhook-msg_{generation_id}_{event}")
    return str(await handle.result())


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
    assert await delivery_outcome(stack, created["id"], "completed") == "delivered"
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
    assert await delivery_outcome(stack, created["id"], "completed") == "gone"
    assert len(receiver.received) == 1

    receiver.statuses = [500] * 10
    receiver.received.clear()
    failing = await stack.create(webhook_url=receiver.url, prompt="Nothing to see.")
    done = await stack.finished(failing["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_requirements"
    # Every event is delivered, each retried on 500: wait for the failure's own.
    await eventually(
        lambda: any(b"generation.failed" in d["body"] for d in receiver.received),
        timeout=30,
        what=lambda: f"a generation.failed delivery; received {receiver.received}",
    )


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


@pytest.mark.postgresql_only  # the event is the workflow's, not the read model's
async def test_a_generation_that_starts_waiting_for_approval_sends_awaiting_approval(
    stack: Stack, receiver: Receiver
) -> None:
    user = "hook-approver"
    created = await stack.create(
        user=user,
        webhook_url=receiver.url,
        webhook_events=["awaiting_approval", "completed"],
        require_approval=True,
    )
    await settle(receiver, 1)
    waiting = json.loads(receiver.received[0]["body"])
    assert waiting["type"] == "generation.awaiting_approval"
    assert waiting["data"]["generation_id"] == created["id"]
    assert waiting["data"]["status"] == "awaiting_approval"
    assert (await stack.get(created["id"], user))["status"] == "awaiting_approval"
    secret = (await stack.http.get("/v1/webhooks/secret", headers=stack.auth(user))).json()
    assert verify(secret["secret"], receiver.received[0])

    approved = await stack.http.post(
        f"/v1/generations/{created['id']}/approve", headers=stack.auth(user)
    )
    assert approved.status_code == 202
    await stack.wait_until(created["id"], lambda g: g["status"] == "completed", user=user)
    await settle(receiver, 2)
    types = [json.loads(d["body"])["type"] for d in receiver.received]
    assert types == ["generation.awaiting_approval", "generation.completed"]


async def test_a_rotated_secret_keeps_signing_through_its_grace_only(
    stack: Stack, receiver: Receiver
) -> None:
    user = f"hook-rotator-{uuid.uuid4().hex[:8]}"
    url = "/v1/webhooks/secret"
    old = (await stack.http.get(url, headers=stack.auth(user))).json()
    assert old["previous_expires_at"] is None

    rotated = await stack.http.post(f"{url}/rotate", headers=stack.auth(user))

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"].startswith("whsec_") and new["secret"] != old["secret"]
    grace_ends = datetime.fromisoformat(new["previous_expires_at"])
    expected = datetime.now(UTC) + timedelta(seconds=stack.settings.webhook_secret_grace_seconds)
    assert abs((grace_ends - expected).total_seconds()) < 60
    assert (await stack.http.get(url, headers=stack.auth(user))).json() == new
    await stack.create(user=user, webhook_url=receiver.url, webhook_events=["completed"])
    await settle(receiver, 1)
    during = receiver.received[0]
    assert len(during["headers"]["webhook-signature"].split()) == 2
    assert verify(new["secret"], during) and verify(old["secret"], during)

    at_once = await stack.http.post(
        f"{url}/rotate", json={"grace_seconds": 0}, headers=stack.auth(user)
    )
    assert at_once.status_code == 200 and at_once.json()["previous_expires_at"] is None
    newest = at_once.json()["secret"]
    await stack.create(user=user, webhook_url=receiver.url, webhook_events=["completed"])
    await settle(receiver, 2)
    after = receiver.received[1]
    assert len(after["headers"]["webhook-signature"].split()) == 1
    assert verify(newest, after)
    assert not verify(new["secret"], after) and not verify(old["secret"], after)

    too_long = {"grace_seconds": 8 * 24 * 3600}
    for body in ({"grace_seconds": -1}, too_long, {"grace_seconds": False}, {"grace": 5}):
        refused = await stack.http.post(f"{url}/rotate", json=body, headers=stack.auth(user))
        assert refused.status_code == 422, body
    assert (await stack.http.post(f"{url}/rotate")).status_code == 401
    assert (await stack.http.get(url, headers=stack.auth(user))).json()["secret"] == newest


async def test_the_replaced_secret_signs_until_its_grace_ends(migrated_engine: AsyncEngine) -> None:
    secrets = WebhookSecretRepository(make_session_maker(migrated_engine))
    user = f"rotation-{uuid.uuid4().hex[:8]}"
    first = await secrets.secret_for(user)
    assert await secrets.signing_secrets(user) == [first]

    second = await secrets.rotate(user, timedelta(hours=1))
    third = await secrets.rotate(user, timedelta(hours=1))  # within the grace of the first

    assert len({first, second.secret, third.secret}) == 3
    now = datetime.now(UTC)
    assert await secrets.signing_secrets(user, now) == [third.secret, second.secret]
    ends = third.previous_expires_at
    assert ends is not None and abs((ends - now - timedelta(hours=1)).total_seconds()) < 60
    assert await secrets.signing_secrets(user, ends - timedelta(seconds=1)) == [
        third.secret,
        second.secret,
    ]
    assert await secrets.signing_secrets(user, ends) == [third.secret]
    assert (await secrets.state_for(user, ends)).previous_expires_at is None
