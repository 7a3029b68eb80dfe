"""Through the API, on both read-model backends: what the builtin provider did not
understand is named in the response, the quality report and spec.json, or the
generation fails with invalid_requirements quoting it; "completed" never means
"ignored you"."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack


def requirements_check(generation: dict[str, Any]) -> dict[str, Any]:
    report = generation["quality_report"]
    found: dict[str, Any] = next(c for c in report["checks"] if c["name"] == "requirements")
    return found


async def test_unread_sentences_and_unused_variables_are_named(stack: Stack) -> None:
    created = await stack.create(
        prompt="A recipe box. Recipe has title (text, required). It should feel cosy.",
        variables={"name": "recipes", "owner": "ann"},
    )
    assert created["not_understood"] is None  # not known before the review ran

    done = await stack.finished(created["id"])

    assert done["status"] == "completed", done["error"]
    assert done["not_understood"] == ["It should feel cosy"]
    assert done["unused_variables"] == ["owner"]
    assert requirements_check(done) == {
        "name": "requirements",
        "not_understood": ["It should feel cosy"],
        "unused_variables": ["owner"],
        "sentences": 3,
        "met": 0.667,
    }
    # One of three sentences unread: a requirement not met, the score says so.
    assert done["quality_score"] < 100
    spec = await stack.http.get(
        f"/v1/generations/{created['id']}/artifacts/spec.json", headers=stack.auth()
    )
    assert spec.json()["name"] == "recipes"
    assert spec.json()["not_understood"] == ["It should feel cosy"]
    assert spec.json()["unused_variables"] == ["owner"]


async def test_an_iteration_that_changes_nothing_fails_quoting_the_sentence(stack: Stack) -> None:
    parent = await stack.create(prompt="I need a todo app where people can add tasks with a title.")
    parent = await stack.finished(parent["id"])
    assert parent["status"] == "completed", parent["error"]
    assert parent["not_understood"] == [] and parent["unused_variables"] == []

    response = await stack.http.post(
        f"/v1/generations/{parent['id']}/iterate",
        json={"prompt": "Please make it look nicer."},
        headers=stack.auth(),
    )
    assert response.status_code == 202, response.text
    child = await stack.finished(response.json()["id"])

    assert child["status"] == "failed"
    assert child["error"]["code"] == "invalid_requirements"
    assert 'could not read "Please make it look nicer"' in child["error"]["message"]
    assert child["stages"][0]["attempts"] == 1
    assert child["artifacts"] == []

    response = await stack.http.post(
        f"/v1/generations/{parent['id']}/iterate",
        json={"prompt": "Make it look nicer. Give tasks a due date."},
        headers=stack.auth(),
    )
    changed = await stack.finished(response.json()["id"])
    assert changed["status"] == "completed", changed["error"]
    assert changed["not_understood"] == ["Make it look nicer"]
    assert changed["quality_score"] <= 50  # one of its two sentences was not read
    changes = next(c for c in changed["quality_report"]["checks"] if c["name"] == "changes")
    assert changes["changes"] == ["added field Task.due_date"]
