"""Every endpoint beyond the core: success paths and documented errors, with the
stored state checked (both read-model backends)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime

from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus

from genflow.db.models import Artifact, Event, Generation, Stage
from tests.conftest import Stack
from tests.test_lifecycle import running_stage, watched


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


async def test_artifacts_and_archive_serve_the_stored_files(stack: Stack) -> None:
    created = await stack.create()
    done = await stack.finished(created["id"])
    base = f"/v1/generations/{created['id']}"
    models = await stack.http.get(
        f"{base}/artifacts/library_service/models.py", headers=stack.auth()
    )
    assert models.status_code == 200
    assert models.headers["content-type"].startswith("text/x-python")
    listed = {a["path"]: a for a in done["artifacts"]}
    assert (
        hashlib.sha256(models.content).hexdigest() == listed["library_service/models.py"]["sha256"]
    )
    assert (
        await stack.http.get(f"{base}/artifacts/nope.py", headers=stack.auth())
    ).status_code == 404
    assert (
        await stack.http.get(f"{base}/artifacts/README.md", headers=stack.auth("bob"))
    ).status_code == 404

    archive = await stack.http.get(f"{base}/archive", headers=stack.auth())
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        assert set(zipped.namelist()) == set(listed)
        for path, artifact in listed.items():
            assert hashlib.sha256(zipped.read(path)).hexdigest() == artifact["sha256"]
    assert (await stack.http.get(f"{base}/archive", headers=stack.auth("bob"))).status_code == 404


async def test_projects_and_their_generations(stack: Stack) -> None:
    user = f"projects-{uuid.uuid4()}"
    response = await stack.http.post(
        "/v1/projects", json={"name": "Shop", "description": "d"}, headers=stack.auth(user)
    )
    assert response.status_code == 201
    project = response.json()
    assert response.headers["location"] == f"/v1/projects/{project['id']}"
    assert (await stack.http.get(f"/v1/projects/{project['id']}", headers=stack.auth(user))).json()[
        "name"
    ] == "Shop"
    assert (
        await stack.http.get(f"/v1/projects/{project['id']}", headers=stack.auth("bob"))
    ).status_code == 404
    listed = await stack.http.get("/v1/projects", headers=stack.auth(user))
    assert [p["id"] for p in listed.json()["items"]] == [project["id"]]
    assert (
        await stack.http.post("/v1/projects", json={"name": ""}, headers=stack.auth(user))
    ).status_code == 422

    inside = await stack.create(user=user, project_id=project["id"])
    await stack.create(user=user)
    in_project = await stack.http.get(
        f"/v1/generations/project/{project['id']}", headers=stack.auth(user)
    )
    assert [g["id"] for g in in_project.json()["items"]] == [inside["id"]]
    assert (
        await stack.http.get(f"/v1/generations/project/{uuid.uuid4()}", headers=stack.auth(user))
    ).status_code == 404
    unknown = await stack.http.post(
        "/v1/generations",
        json={"prompt": "A has b.", "project_id": str(uuid.uuid4())},
        headers=stack.auth(user),
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == [
        "body",
        "project_id",
    ]
    rows, _ = await stack.repository.list_for_user(user)
    assert len(rows) == 2


async def test_active_and_statistics(stack: Stack) -> None:
    user = f"stats-{uuid.uuid4()}"
    ok = [await stack.create(user=user) for _ in range(2)]
    bad = await stack.create(user=user, prompt="Nothing here.")
    for created in [*ok, bad]:
        await stack.wait_until(
            created["id"], lambda g: g["status"] in ("completed", "failed"), user=user
        )
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
    from api.app import create_app
    from tests.conftest import serve

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
