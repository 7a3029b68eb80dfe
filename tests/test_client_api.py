"""What clients of job APIs expect (Replicate, OpenAI background responses, Stripe):
conditional reads, absolute URLs, waiting in one request, iteration chains, iterate with
create's options, retry, and approve/reject answering the state they led to. On both
read-model backends."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from api.app import create_app
from genflow.settings import Settings
from tests.conftest import Stack, serve

# A prompt the builtin requirements language cannot read: the generation fails fast.
UNREADABLE = "Nothing to see."
WAIT = {"Prefer": "wait=60"}


async def post(
    stack: Stack, path: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return await stack.http.post(
        f"/v1/generations{path}", json=body, headers={**stack.auth(), **headers}
    )


async def started(stack: Stack, path: str = "", **body: Any) -> dict[str, Any]:
    """POST a create (or an iterate/retry `path`) that waits until the generation has
    ended or awaits approval."""
    response = await post(stack, path, {"prompt": body.pop("prompt", UNREADABLE), **body}, **WAIT)
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=60"
    generation: dict[str, Any] = response.json()
    return generation


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


async def test_approve_and_reject_answer_the_status_they_led_to(stack: Stack) -> None:
    to_approve = await started(stack, prompt="Cat has name.", require_approval=True)
    to_reject = await started(stack, prompt="Cat has name.", require_approval=True)
    assert {to_approve["status"], to_reject["status"]} == {"awaiting_approval"}

    approved = await post(stack, f"/{to_approve['id']}/approve", {"reason": "fine"})
    assert approved.status_code == 202, approved.text
    assert approved.json()["status"] in ("processing", "completed")
    rejected = await post(stack, f"/{to_reject['id']}/reject", {"reason": "no"})
    assert rejected.status_code == 202, rejected.text
    assert rejected.json()["status"] == "failed"
    assert rejected.json()["error"] == {"code": "rejected", "message": "rejected: no"}
    assert (await stack.finished(to_approve["id"]))["status"] == "completed"
