"""Starting generations (api/generations/service.py, starting.py, inputs.py, admission.py):
an iteration builds on its parent and takes create's options, a retry reruns a failed
one, an Idempotency-Key makes one generation however often it is sent, and the
per-user limits answer 429."""

from __future__ import annotations

import asyncio
import uuid

from api.app import create_app
from tests.conftest import Stack, serve
from tests.generations_http import WAIT, post, started


async def test_iterate_builds_on_the_parent(stack: Stack) -> None:
    parent = await stack.create(title="library")
    await stack.finished(parent["id"])

    response = await stack.http.post(
        f"/v1/generations/{parent['id']}/iterate",
        json={"prompt": "Book has pages (integer). Author has name (text, required)."},
        headers=stack.auth(),
    )
    assert response.status_code == 202, response.text
    child = response.json()
    assert response.headers["location"] == f"/v1/generations/{child['id']}"
    assert (child["parent_id"], child["root_id"], child["iteration"]) == (
        parent["id"],
        parent["id"],
        1,
    )
    child = await stack.finished(child["id"])
    assert child["status"] == "completed" and child["quality_score"] == 100.0
    changes = await stack.http.get(
        f"/v1/generations/{child['id']}/artifacts/changes.json", headers=stack.auth()
    )
    assert changes.json()["changes"] == ["added field Book.pages", "added entity Author"]
    models = await stack.http.get(
        f"/v1/generations/{child['id']}/artifacts/library_service/models.py", headers=stack.auth()
    )
    assert "class Author:" in models.text and "pages: int | None = None" in models.text

    grandchild = (
        await stack.http.post(
            f"/v1/generations/{child['id']}/iterate",
            json={"prompt": "Member has phone."},
            headers=stack.auth(),
        )
    ).json()
    assert (grandchild["root_id"], grandchild["iteration"]) == (parent["id"], 2)
    listed = await stack.http.get(
        f"/v1/generations/{parent['id']}/iterations", headers=stack.auth()
    )
    assert [g["id"] for g in listed.json()["items"]] == [child["id"]]

    busy = await stack.create(metadata={"test": {"pace": 1.0}})
    refused = await stack.http.post(
        f"/v1/generations/{busy['id']}/iterate", json={"prompt": "X has y."}, headers=stack.auth()
    )
    assert refused.status_code == 409
    other = await stack.http.post(
        f"/v1/generations/{parent['id']}/iterate",
        json={"prompt": "X has y."},
        headers=stack.auth("bob"),
    )
    assert other.status_code == 404
    assert (
        await stack.http.get(
            f"/v1/generations/{parent['id']}/iterations", headers=stack.auth("bob")
        )
    ).status_code == 404


async def test_iterate_accepts_create_options(stack: Stack) -> None:
    parent = await started(stack, prompt="Cat has name.", model="first-model")
    invalid = await post(
        stack, f"/{parent['id']}/iterate", {"prompt": "Cat has age.", "webhook_events": ["failed"]}
    )
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["loc"] == [
        "body",
        "webhook_events",
    ]
    unknown = await post(stack, f"/{parent['id']}/iterate", {"prompt": "x", "provider": "other"})
    assert unknown.status_code == 422

    child = await started(
        stack,
        f"/{parent['id']}/iterate",
        prompt="Cat has age (integer).",
        require_approval=True,
        webhook_url="http://127.0.0.1:9/hook",
        webhook_events=["completed"],
        provider="builtin",
        timeout_seconds=900,
    )
    assert child["status"] == "awaiting_approval"
    assert (child["provider"], child["model"]) == ("builtin", "first-model")
    row = await stack.repository.get(uuid.UUID(child["id"]))
    assert row is not None and row.options == {
        "require_approval": True,
        "webhook_url": "http://127.0.0.1:9/hook",
        "webhook_events": ["completed"],
        "timeout_seconds": 900,
        "priority": None,
        "max_tokens": 200_000,  # the deployment's default budget
    }
    await post(stack, f"/{child['id']}/reject")


async def test_retry_reruns_a_failed_or_cancelled_generation(stack: Stack) -> None:
    failed = await started(stack, title="t", tags=["a"], metadata={"k": 1}, variables={"v": 2})
    assert failed["status"] == "failed"
    retried = await post(stack, f"/{failed['id']}/retry", **{"Idempotency-Key": "r-1"})
    assert retried.status_code == 202, retried.text
    rerun = retried.json()
    assert retried.headers["location"] == f"/v1/generations/{rerun['id']}"
    assert rerun["id"] != failed["id"] and rerun["workflow_id"] == f"gen-{rerun['id']}"
    assert rerun["retry_of"] == failed["id"] and failed["retry_of"] is None
    same = ("prompt", "title", "tags", "metadata", "variables", "template", "provider", "model")
    assert {k: rerun[k] for k in same} == {k: failed[k] for k in same}
    replayed = await post(stack, f"/{failed['id']}/retry", **{"Idempotency-Key": "r-1"})
    assert replayed.json()["id"] == rerun["id"]
    assert (await stack.finished(rerun["id"]))["error"]["code"] == failed["error"]["code"]
    listed = await stack.http.get(f"/v1/generations?retry_of={failed['id']}", headers=stack.auth())
    assert [g["id"] for g in listed.json()["items"]] == [rerun["id"]]

    # A cancelled one reruns with the options it started with (here: the approval gate).
    paused = await started(stack, prompt="Cat has name.", require_approval=True)
    assert (await post(stack, f"/{paused['id']}/cancel")).status_code == 202
    await stack.finished(paused["id"])
    waited = await post(stack, f"/{paused['id']}/retry", **WAIT)
    assert waited.status_code == 202 and waited.headers["preference-applied"] == "wait=60"
    again = waited.json()
    assert again["status"] == "awaiting_approval" and again["retry_of"] == paused["id"]

    for busy_or_done in (again, await started(stack, prompt="Cat has name.")):
        refused = await post(stack, f"/{busy_or_done['id']}/retry")
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await post(stack, f"/{uuid.uuid4()}/retry")).status_code == 404
    assert (
        await stack.http.post(f"/v1/generations/{failed['id']}/retry", headers=stack.auth("bob"))
    ).status_code == 404
    await post(stack, f"/{again['id']}/reject")


async def test_idempotency_key_replays_and_refuses_a_different_body(stack: Stack) -> None:
    user = f"idem-{uuid.uuid4()}"
    headers = {**stack.auth(user), "Idempotency-Key": "order-1"}
    first = await stack.http.post("/v1/generations", json={"prompt": "A has b."}, headers=headers)
    again = await stack.http.post("/v1/generations", json={"prompt": "A has b."}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    different = await stack.http.post(
        "/v1/generations", json={"prompt": "C has d."}, headers=headers
    )
    assert different.status_code == 422
    other_user = await stack.http.post(
        "/v1/generations",
        json={"prompt": "A has b."},
        headers={**stack.auth(f"{user}-2"), "Idempotency-Key": "order-1"},
    )
    assert other_user.status_code == 202 and other_user.json()["id"] != first.json()["id"]
    rows, _ = await stack.repository.list_for_user(user)
    assert [str(r.id) for r in rows] == [first.json()["id"]]


async def test_twenty_concurrent_identical_creates_make_one_generation(stack: Stack) -> None:
    user = f"race-{uuid.uuid4()}"
    headers = {**stack.auth(user), "Idempotency-Key": "same"}
    body = {"prompt": "A has b.", "tags": ["race"]}
    responses = await asyncio.gather(
        *(stack.http.post("/v1/generations", json=body, headers=headers) for _ in range(20))
    )
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {202, 409}, codes
    ids = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(ids) == 1
    assert all(r.headers["retry-after"] for r in responses if r.status_code == 409)
    rows, _ = await stack.repository.list_for_user(user)
    assert [str(r.id) for r in rows] == list(ids)
    workflows = [w.id async for w in stack.temporal.list_workflows(f"UserId = '{user}'")]
    assert workflows == [f"gen-{next(iter(ids))}"]


async def test_per_user_limits_answer_429_with_retry_after(stack: Stack) -> None:

    settings = stack.settings.model_copy(
        update={"max_active_per_user": 2, "max_creates_per_minute": 3}
    )
    server, task, base_url = await serve(
        create_app(settings, engine=stack.engine, temporal=stack.temporal)
    )
    try:
        user = f"limited-{uuid.uuid4()}"
        slow = {"prompt": "A has b.", "metadata": {"test": {"pace": 2.0}}}
        for _ in range(2):
            assert (
                await stack.http.post(
                    f"{base_url}/v1/generations", json=slow, headers=stack.auth(user)
                )
            ).status_code == 202
        busy = await stack.http.post(
            f"{base_url}/v1/generations", json=slow, headers=stack.auth(user)
        )
        assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
        assert busy.headers["content-type"] == "application/problem+json"

        fast = f"burst-{uuid.uuid4()}"
        for _ in range(3):
            created = await stack.http.post(
                f"{base_url}/v1/generations", json={"prompt": "Nope."}, headers=stack.auth(fast)
            )
            assert created.status_code == 202
            # Finished ones do not count against the active limit of 2.
            await stack.wait_until(
                created.json()["id"], lambda g: g["status"] == "failed", user=fast
            )
        burst = await stack.http.post(
            f"{base_url}/v1/generations", json={"prompt": "Nope."}, headers=stack.auth(fast)
        )
        assert burst.status_code == 429 and 1 <= int(burst.headers["retry-after"]) <= 60
        rows, _ = await stack.repository.list_for_user(fast)
        assert len(rows) == 3
    finally:
        server.should_exit = True
        await task
