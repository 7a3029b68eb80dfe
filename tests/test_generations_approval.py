"""The approval gate (api/generations/approval.py, workflows/approval.py) end to end:
approve, reject, time out, and a decision on a generation that is not waiting."""

from __future__ import annotations

import uuid

from api.app import create_app
from tests.conftest import Stack, closed, serve


def waiting(generation: dict[str, object]) -> bool:
    return generation["status"] == "awaiting_approval"


async def test_approve_continues_after_schema_extraction(stack: Stack) -> None:
    created = await stack.create(require_approval=True)
    paused = await stack.wait_until(created["id"], waiting)
    assert [s["status"] for s in paused["stages"]] == ["completed", "pending", "pending", "pending"]
    spec = await stack.http.get(
        f"/v1/generations/{created['id']}/artifacts/spec.json", headers=stack.auth()
    )
    assert [e["name"] for e in spec.json()["entities"]] == ["Book", "Member", "Loan"]
    assert (
        await stack.http.post(f"/v1/generations/{created['id']}/approve", headers=stack.auth("bob"))
    ).status_code == 404

    response = await stack.http.post(
        f"/v1/generations/{created['id']}/approve",
        json={"reason": "looks right"},
        headers=stack.auth(),
    )

    assert response.status_code == 202, response.text
    # The answer is where the approval took it, not the `awaiting_approval` it left.
    assert response.json()["status"] in ("processing", "completed")
    done = await stack.finished(created["id"])
    assert done["status"] == "completed" and done["quality_score"] == 100.0
    again = await stack.http.post(f"/v1/generations/{created['id']}/approve", headers=stack.auth())
    assert again.status_code == 409
    events = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    statuses = [e.data["status"] for e in events if e.event == "status"]
    assert statuses == ["pending", "processing", "awaiting_approval", "processing", "completed"]


async def test_reject_ends_the_generation_with_the_reason(stack: Stack) -> None:
    created = await stack.create(require_approval=True)
    await stack.wait_until(created["id"], waiting)

    response = await stack.http.post(
        f"/v1/generations/{created['id']}/reject",
        json={"reason": "wrong entities"},
        headers=stack.auth(),
    )

    assert response.status_code == 202, response.text
    rejected = {"code": "rejected", "message": "rejected: wrong entities"}
    assert response.json()["status"] == "failed" and response.json()["error"] == rejected
    done = await stack.finished(created["id"])
    assert done["status"] == "failed"
    assert done["error"] == rejected
    # The approved-or-not spec was extracted: that stage stays completed, no stage failed.
    assert [s["status"] for s in done["stages"]] == [
        "completed",
        "skipped",
        "skipped",
        "skipped",
    ]
    handle = stack.temporal.get_workflow_handle(created["workflow_id"])
    assert (await closed(handle)).status.name == "FAILED"


async def test_an_approval_never_given_times_out(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"approval_timeout_seconds": 1.0})
    server, task, base_url = await serve(
        create_app(settings, engine=stack.engine, temporal=stack.temporal)
    )
    try:
        response = await stack.http.post(
            f"{base_url}/v1/generations",
            json={"prompt": "Cat has name.", "require_approval": True},
            headers=stack.auth(),
        )
    finally:
        server.should_exit = True
        await task
    created = response.json()
    done = await stack.finished(created["id"], timeout=30)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "approval_timeout"
    events = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    assert "awaiting_approval" in [e.data["status"] for e in events if e.event == "status"]


async def test_approve_of_a_generation_not_waiting_is_409(stack: Stack) -> None:
    created = await stack.create()
    await stack.finished(created["id"])
    for action in ("approve", "reject"):
        response = await stack.http.post(
            f"/v1/generations/{created['id']}/{action}", headers=stack.auth()
        )
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
