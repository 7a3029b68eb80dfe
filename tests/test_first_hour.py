"""What a new user meets first: the service's root, errors that name their cause (a body
not sent as JSON, a database never migrated)."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.app import create_app
from genflow.db.engine import make_engine
from tests.conftest import LIBRARY, Stack, serve


async def test_the_root_names_the_service_and_links_to_where_to_start(stack: Stack) -> None:
    response = await stack.http.get("/")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "genflow" and body["version"]
    assert body["links"] == {
        "docs": "/docs",
        "openapi": "/openapi.json",
        "generations": "/v1/generations",
        "health": "/healthz",
    }
    for link in body["links"].values():
        assert (await stack.http.get(link, headers=stack.auth())).status_code == 200


async def test_a_body_not_sent_as_json_is_415_naming_the_type_and_creates_nothing(
    stack: Stack,
) -> None:
    user = {"Authorization": f"Bearer {stack.token('untyped')}"}
    before = (await stack.http.get("/v1/generations", headers=user)).json()["items"]
    body = f'{{"prompt": "{LIBRARY}"}}'
    form = await stack.http.post(
        "/v1/generations",
        content=body,
        headers={**user, "Content-Type": "application/x-www-form-urlencoded"},
    )
    untyped = await stack.http.post("/v1/generations", content=body, headers=user)
    patched = await stack.http.patch(
        "/v1/generations/00000000-0000-0000-0000-000000000000",
        content='{"title": "x"}',
        headers={**user, "Content-Type": "text/plain"},
    )
    after = (await stack.http.get("/v1/generations", headers=user)).json()["items"]

    assert form.status_code == untyped.status_code == patched.status_code == 415
    assert form.headers["content-type"] == "application/problem+json"
    assert form.headers["accept-post"] == "application/json"
    assert patched.headers["accept-patch"] == "application/json"
    assert "application/x-www-form-urlencoded" in form.json()["detail"]
    assert "Content-Type: application/json" in untyped.json()["detail"]
    assert after == before


async def test_a_json_body_with_a_charset_and_a_post_without_a_body_pass(stack: Stack) -> None:
    created = await stack.http.post(
        "/v1/generations",
        content=f'{{"prompt": "{LIBRARY}"}}',
        headers={**stack.auth(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert created.status_code == 202, created.text
    cancelled = await stack.http.post(
        f"/v1/generations/{created.json()['id']}/cancel", headers=stack.auth()
    )
    assert cancelled.status_code in (202, 409), cancelled.text


async def test_a_database_never_migrated_answers_503_saying_to_run_migrate(
    stack: Stack, tmp_path: Path
) -> None:
    empty = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    app = create_app(stack.settings, engine=empty, temporal=stack.temporal)
    server, task, url = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/v1/generations", headers=stack.auth())
    finally:
        server.should_exit = True
        await task
        await empty.dispose()

    assert response.status_code == 503
    assert "run `genflow migrate`" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) > 0
