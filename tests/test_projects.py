"""Projects (api/projects/): create, list and read your own, and list their generations."""

from __future__ import annotations

import uuid

from tests.conftest import Stack


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
