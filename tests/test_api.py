"""The HTTP surface of the core: listing, validation, health."""

from __future__ import annotations

import uuid

from tests.conftest import Stack


async def test_list_is_own_newest_first_filtered_and_paged(stack: Stack) -> None:
    user = f"lister-{uuid.uuid4()}"
    good = [await stack.create(user=user) for _ in range(3)]
    bad = await stack.create(user=user, prompt="Nothing to see.")
    for created in [*good, bad]:
        await stack.wait_until(
            created["id"], lambda g: g["status"] in ("completed", "failed"), user=user
        )
    headers = stack.auth(user)

    page = (await stack.http.get("/v1/generations?limit=2", headers=headers)).json()
    assert [g["id"] for g in page["items"]] == [bad["id"], good[2]["id"]]
    rest = await stack.http.get(
        "/v1/generations", params={"limit": 2, "cursor": page["next_cursor"]}, headers=headers
    )
    assert [g["id"] for g in rest.json()["items"]] == [good[1]["id"], good[0]["id"]]
    assert rest.json()["next_cursor"] is None

    failed = await stack.http.get("/v1/generations?status=failed", headers=headers)
    assert [g["id"] for g in failed.json()["items"]] == [bad["id"]]
    both = await stack.http.get(
        "/v1/generations?status=failed&status=completed&limit=100", headers=headers
    )
    assert len(both.json()["items"]) == 4
    item = page["items"][1]
    assert item["urls"]["self"] == f"/v1/generations/{item['id']}"


async def test_create_answers_location_and_rejects_bad_bodies(stack: Stack) -> None:
    user = f"validator-{uuid.uuid4()}"
    headers = stack.auth(user)
    response = await stack.http.post(
        "/v1/generations", json={"prompt": "Cat has name."}, headers=headers
    )
    assert response.status_code == 202
    assert response.headers["location"] == f"/v1/generations/{response.json()['id']}"

    for body in [
        {},
        {"prompt": ""},
        {"prompt": "x" * 20_001},
        {"prompt": "ok", "unknown": 1},
        {"prompt": "ok", "tags": ["t"] * 21},
        {"prompt": "ok", "tags": ["x" * 65]},
        {"prompt": "ok", "provider": "nope"},
        {"prompt": "ok", "metadata": {"big": "x" * 17_000}},
    ]:
        rejected = await stack.http.post("/v1/generations", json=body, headers=headers)
        assert rejected.status_code == 422, body
        assert rejected.headers["content-type"] == "application/problem+json"
        assert rejected.json()["errors"], body
    not_json = await stack.http.post(
        "/v1/generations", content=b"{", headers={**headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 422
    rows, _ = await stack.repository.list_for_user(user)
    assert len(rows) == 1


async def test_bad_ids_cursors_and_limits_are_4xx(stack: Stack) -> None:
    headers = stack.auth()
    for path, status in [
        ("/v1/generations/not-a-uuid", 422),
        (f"/v1/generations/{uuid.uuid4()}", 404),
        (f"/v1/generations/{uuid.uuid4()}/stream", 404),
        ("/v1/generations?cursor=garbage", 422),
        ("/v1/generations?limit=0", 422),
        ("/v1/generations?limit=101", 422),
        ("/v1/generations?status=unknown", 422),
    ]:
        response = await stack.http.get(path, headers=headers)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json"
    missing = await stack.http.post(f"/v1/generations/{uuid.uuid4()}/cancel", headers=headers)
    assert missing.status_code == 404


async def test_health_and_readiness(stack: Stack) -> None:
    assert (await stack.http.get("/healthz")).json() == {"status": "ok"}
    ready = await stack.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "temporal": "ok"}
