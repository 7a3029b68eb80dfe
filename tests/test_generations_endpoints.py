"""The generation resource's endpoints (api/generations/endpoints.py) on both read-model
backends: read, list, change and delete, with the stored state checked; conditional
reads, absolute URLs, waiting in one request; and their documented errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus

from api.app import create_app
from genflow.db.models import Artifact, Event, Generation, Stage
from genflow.settings import Settings
from tests.conftest import Stack, serve
from tests.generations_http import UNREADABLE, post, started
from tests.watched import running_stage, watched


async def test_etag_and_if_none_match_on_a_generation_and_an_artifact(stack: Stack) -> None:
    url = f"/v1/generations/{(await stack.create(prompt='Cat has name.'))['id']}"
    done = await stack.finished(url.rsplit("/", 1)[1])
    first = await stack.http.get(url, headers=stack.auth())
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "private, no-cache"
    assert first.json() == done

    for sent in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
        unchanged = await stack.http.get(url, headers={**stack.auth(), "If-None-Match": sent})
        assert unchanged.status_code == 304, sent
        assert unchanged.content == b"" and unchanged.headers["etag"] == etag
    renamed = await stack.http.patch(url, json={"title": "renamed"}, headers=stack.auth())
    assert renamed.status_code == 200
    changed = await stack.http.get(url, headers={**stack.auth(), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["title"] == "renamed"
    assert changed.headers["etag"] != etag

    listed = {a["path"]: a["sha256"] for a in done["artifacts"]}
    spec = await stack.http.get(f"{url}/artifacts/spec.json", headers=stack.auth())
    assert spec.headers["etag"] == f'"{listed["spec.json"]}"'
    again = await stack.http.get(
        f"{url}/artifacts/spec.json",
        headers={**stack.auth(), "If-None-Match": spec.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    other = await stack.http.get(
        f"{url}/artifacts/README.md",
        headers={**stack.auth(), "If-None-Match": spec.headers["etag"]},
    )
    assert other.status_code == 200 and other.headers["etag"] == f'"{listed["README.md"]}"'


async def test_public_url_makes_location_and_urls_absolute(stack: Stack) -> None:
    public_url = Settings(public_url=" https://genflow.example.com/api/ ").public_url
    assert public_url == "https://genflow.example.com/api"
    for wrong in ("genflow.example.com", "ftp://genflow.example.com", "https://h/?a=1"):
        with pytest.raises(ValidationError):
            Settings(public_url=wrong)
    settings = stack.settings.model_copy(update={"public_url": public_url})
    server, task, base_url = await serve(
        create_app(settings, engine=stack.engine, temporal=stack.temporal)
    )
    user = f"public-{uuid.uuid4()}"
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=stack.auth(user)) as http:
            created = await http.post("/v1/generations", json={"prompt": UNREADABLE})
            generation_id = created.json()["id"]
            absolute = f"{public_url}/v1/generations/{generation_id}"
            assert created.headers["location"] == absolute
            assert created.json()["urls"] == {
                "self": absolute,
                "stream": f"{absolute}/stream",
                "cancel": f"{absolute}/cancel",
                "archive": f"{absolute}/archive",
            }
            assert (await http.get(absolute.removeprefix(public_url))).json()["urls"]["self"] == (
                absolute
            )
            listed = (await http.get("/v1/generations")).json()["items"]
            assert [g["urls"]["self"] for g in listed] == [absolute]
            project = await http.post("/v1/projects", json={"name": "absolute"})
            project_url = f"{public_url}/v1/projects/{project.json()['id']}"
            assert project.headers["location"] == project.json()["urls"]["self"] == project_url
            assert (await http.get("/v1/projects")).json()["items"][0]["urls"]["generations"] == (
                f"{public_url}/v1/generations/project/{project.json()['id']}"
            )
    finally:
        server.should_exit = True
        await task
    # Without the setting, they stay paths.
    assert (await stack.get(generation_id, user))["urls"][
        "self"
    ] == f"/v1/generations/{generation_id}"


async def test_prefer_wait_answers_when_the_generation_ends_or_the_time_is_up(
    stack: Stack,
) -> None:
    done = await started(stack, prompt="Cat has name.", metadata={"test": {"pace": 0.2}})
    assert done["status"] == "completed" and done["progress"] == 100
    paused = await started(stack, prompt="Cat has name.", require_approval=True)
    assert paused["status"] == "awaiting_approval"  # it cannot move on without the caller

    slow = await stack.create(metadata={"test": {"pace": 30}})
    url = f"/v1/generations/{slow['id']}"
    waited = await stack.http.get(url, headers={**stack.auth(), "Prefer": "wait=1"})
    assert waited.status_code == 200 and waited.headers["preference-applied"] == "wait=1"
    assert waited.json()["status"] in ("pending", "processing")
    await post(stack, f"/{slow['id']}/cancel")

    capped = await stack.http.get(
        f"/v1/generations/{done['id']}",
        headers={**stack.auth(), "Prefer": "respond-async, wait=600; x=1"},
    )
    assert capped.headers["preference-applied"] == "wait=60"
    assert capped.json() == await stack.get(done["id"])
    for ignored in ("wait=soon", "wait=-1", "handling=lenient"):
        plain = await stack.http.get(url, headers={**stack.auth(), "Prefer": ignored})
        assert plain.status_code == 200 and "preference-applied" not in plain.headers


async def test_a_chain_is_listed_by_its_root(stack: Stack) -> None:
    root = await started(stack, prompt="Cat has name.")
    child = await started(stack, f"/{root['id']}/iterate", prompt="Cat has age (integer).")
    grandchild = await started(stack, f"/{child['id']}/iterate", prompt="Dog has name.")
    sibling = await started(stack, f"/{root['id']}/iterate", prompt="Cat has color.")
    assert {g["status"] for g in (root, child, grandchild, sibling)} == {"completed"}
    other = await started(stack, prompt="Cat has name.")

    async def ids(path: str, **params: Any) -> list[str]:
        response = await stack.http.get(path, params=params, headers=stack.auth())
        assert response.status_code == 200, response.text
        return [g["id"] for g in response.json()["items"]]

    newest_first = [sibling["id"], grandchild["id"], child["id"], root["id"]]
    assert await ids("/v1/generations", root_id=root["id"]) == newest_first
    assert await ids("/v1/generations", root_id=root["id"], limit=2) == newest_first[:2]
    assert await ids("/v1/generations", root_id=other["id"]) == [other["id"]]
    iterations = f"/v1/generations/{root['id']}/iterations"
    assert await ids(iterations) == [sibling["id"], child["id"]]
    assert await ids(iterations, all="true") == newest_first[:3]
    assert await ids(f"/v1/generations/{child['id']}/iterations", all="true") == [grandchild["id"]]
    refused = await stack.http.get("/v1/generations?root_id=nope", headers=stack.auth())
    assert refused.status_code == 422


async def count_rows(stack: Stack, model: type, generation_id: str) -> int:
    column = model.id if model is Generation else model.generation_id  # type: ignore[attr-defined]
    async with stack.engine.connect() as connection:
        return int(
            await connection.scalar(
                select(func.count()).select_from(model).where(column == uuid.UUID(generation_id))
            )
            or 0
        )


async def test_patch_changes_only_title_tags_and_metadata(stack: Stack) -> None:
    created = await stack.create()
    url = f"/v1/generations/{created['id']}"
    response = await stack.http.patch(
        url,
        json={"title": "renamed", "tags": ["a", "b"], "metadata": {"k": 1}},
        headers=stack.auth(),
    )
    assert response.status_code == 200, response.text
    assert (response.json()["title"], response.json()["tags"]) == ("renamed", ["a", "b"])
    row = await stack.repository.get(uuid.UUID(created["id"]))
    assert row is not None and (row.title, row.tags, row.meta) == ("renamed", ["a", "b"], {"k": 1})

    for body in [{"status": "completed"}, {"prompt": "x"}, {"tags": None}, {"tags": ["x" * 65]}]:
        refused = await stack.http.patch(url, json=body, headers=stack.auth())
        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == "application/problem+json"
    assert (
        await stack.http.patch(url, json={"title": "x"}, headers=stack.auth("bob"))
    ).status_code == 404
    row = await stack.repository.get(uuid.UUID(created["id"]))
    assert row is not None and row.title == "renamed" and row.prompt == created["prompt"]


async def test_delete_removes_everything_and_cancels_an_active_one(stack: Stack) -> None:
    done = await stack.create()
    await stack.finished(done["id"])
    assert await count_rows(stack, Artifact, done["id"]) > 0
    assert (
        await stack.http.delete(f"/v1/generations/{done['id']}", headers=stack.auth("bob"))
    ).status_code == 404

    response = await stack.http.delete(f"/v1/generations/{done['id']}", headers=stack.auth())
    assert response.status_code == 204
    assert (
        await stack.http.get(f"/v1/generations/{done['id']}", headers=stack.auth())
    ).status_code == 404
    for model in (Generation, Stage, Event, Artifact):
        assert await count_rows(stack, model, done["id"]) == 0

    async with watched(stack) as (own, stages_seen):
        active = await own.create(metadata={"test": {"pace": 1.0}})
        running = await running_stage(own, active["id"])
        deleted = await own.http.delete(f"/v1/generations/{active['id']}", headers=own.auth())
        assert deleted.status_code == 204
        description = await stages_seen.quiet(own, active, running)  # then it stays gone
    assert description.status == WorkflowExecutionStatus.CANCELED
    for model in (Generation, Stage, Event, Artifact):
        assert await count_rows(stack, model, active["id"]) == 0
    assert (
        await stack.http.delete(f"/v1/generations/{active['id']}", headers=stack.auth())
    ).status_code == 404


async def test_active_and_statistics(stack: Stack) -> None:
    user = f"stats-{uuid.uuid4()}"
    ok = [await stack.create(user=user) for _ in range(2)]
    bad = await stack.create(user=user, prompt="Nothing here.")
    for created in [*ok, bad]:
        await stack.finished(created["id"], user=user)
    slow = await stack.create(user=user, metadata={"test": {"pace": 1.0}})

    active = await stack.http.get("/v1/generations/active", headers=stack.auth(user))
    assert [g["id"] for g in active.json()["items"]] == [slow["id"]]

    stats = (await stack.http.get("/v1/generations/statistics", headers=stack.auth(user))).json()
    assert stats["total"] == 4
    assert stats["by_status"]["completed"] == 2 and stats["by_status"]["failed"] == 1
    assert stats["success_rate"] == round(2 / 3, 4)
    assert stats["average_quality"] == 100.0
    assert stats["duration_p50_ms"] > 0 and stats["duration_p95_ms"] >= stats["duration_p50_ms"]
    assert set(stats["stages"]) == {
        "schema_extraction",
        "code_generation",
        "code_review",
        "documentation",
    }
    assert (
        stats["stages"]["code_review"]["p95_ms"] >= stats["stages"]["code_review"]["average_ms"] > 0
    )
    assert len(stats["daily"]) == 30
    today = stats["daily"][-1]
    assert today["date"] == datetime.now(UTC).date().isoformat()
    assert (today["created"], today["completed"], today["failed"]) == (4, 2, 1)
    empty = (
        await stack.http.get(
            "/v1/generations/statistics", headers=stack.auth(f"new-{uuid.uuid4()}")
        )
    ).json()
    assert (
        empty["total"] == 0 and empty["success_rate"] is None and empty["average_quality"] is None
    )


async def test_bodies_over_one_mebibyte_are_413(stack: Stack) -> None:
    user = f"big-{uuid.uuid4()}"
    huge = json.dumps({"prompt": "x", "metadata": {"blob": "y" * (1024 * 1024)}}).encode()
    declared = await stack.http.post(
        "/v1/generations",
        content=huge,
        headers={**stack.auth(user), "content-type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = await stack.http.post(
        "/v1/generations",
        content=chunks(),
        headers={**stack.auth(user), "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    rows, _ = await stack.repository.list_for_user(user)
    assert rows == []


async def test_cancel_and_delete_without_temporal_are_503_and_change_nothing(stack: Stack) -> None:
    from temporalio.client import Client
    from temporalio.service import RetryConfig

    from api.app import create_app
    from tests.conftest import serve

    created = await stack.create(metadata={"test": {"pace": 1.0}})
    await stack.wait_until(created["id"], lambda g: g["status"] == "processing")
    before = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    # Calls give up after ~1 s (the default retries for 10 s first: a blip is not down).
    unreachable = await Client.connect(
        "127.0.0.1:1", lazy=True, retry_config=RetryConfig(max_elapsed_time_millis=1000)
    )
    app = create_app(stack.settings, engine=stack.engine, temporal=unreachable)
    server, task, base_url = await serve(app)
    try:
        url = f"{base_url}/v1/generations/{created['id']}"
        cancel = await stack.http.post(f"{url}/cancel", json={"reason": "x"}, headers=stack.auth())
        delete = await stack.http.delete(url, headers=stack.auth())
    finally:
        server.should_exit = True
        await task
    assert cancel.status_code == delete.status_code == 503
    assert cancel.headers["content-type"] == "application/problem+json"
    row = await stack.repository.get(uuid.UUID(created["id"]))
    assert row is not None and row.cancel_reason is None
    after = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    assert [e.data for e in after if e.event == "status"] == [
        e.data for e in before if e.event == "status"
    ]
    assert (await stack.finished(created["id"]))["status"] == "completed"


async def test_list_is_own_newest_first_filtered_and_paged(stack: Stack) -> None:
    user = f"lister-{uuid.uuid4()}"
    good = [await stack.create(user=user) for _ in range(3)]
    bad = await stack.create(user=user, prompt="Nothing to see.")
    for created in [*good, bad]:
        await stack.finished(created["id"], user=user)
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
