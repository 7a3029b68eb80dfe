"""The OpenAPI document declares every answer (api/openapi.py), and the answers the
app's shared machinery gives match it: a body that is not UTF-8 JSON is a 400, a
method a path does not serve is a 405 naming the ones it does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from api.app import create_app
from genflow.settings import Settings
from tests.conftest import SECRET, Stack

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def document() -> dict[str, Any]:
    app = create_app(Settings(jwt_secret=SECRET, database_url="sqlite+aiosqlite:///unused.db"))
    return app.openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_answer_is_a_declared_problem_document() -> None:
    doc = document()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, method, operation in operations(doc):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), where
        if operation.get("security"):
            assert {"401", "503"} <= set(responses), where
            assert responses["401"]["headers"]["WWW-Authenticate"]["required"], where
            assert responses["503"]["headers"]["Retry-After"]["required"], where
        for status, response in responses.items():
            if status[0] in "45" and path != "/readyz":
                assert response["content"] == PROBLEM, f"{where} {status}"
        for parameter in operation.get("parameters", []):
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), where


def test_a_created_generation_links_to_what_can_be_done_with_it() -> None:
    doc = document()
    created = doc["paths"]["/v1/generations"]["post"]["responses"]["202"]
    links = {link["operationId"]: link["parameters"] for link in created["links"].values()}
    get_one = doc["paths"]["/v1/generations/{generation_id}"]["get"]["operationId"]
    cancel = doc["paths"]["/v1/generations/{generation_id}/cancel"]["post"]["operationId"]
    assert links[get_one] == links[cancel] == {"path.generation_id": "$response.body#/id"}


@pytest.mark.postgresql_only
async def test_a_body_that_is_not_utf8_json_is_a_declared_400(stack: Stack) -> None:
    doc = (await stack.http.get("/openapi.json")).json()
    with_body = [(p, m) for p, m, operation in operations(doc) if "requestBody" in operation]
    assert len(with_body) >= 7  # create, PATCH, cancel, approve, reject, iterate, projects
    some_id = str(uuid.uuid4())
    for path, method in with_body:
        url = path.replace("{generation_id}", some_id).replace("{project_id}", some_id)
        response = await stack.http.request(
            method,
            url,
            content=b'{"prompt": "\xff\xfe"}',
            headers={**stack.auth("undecodable"), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 400


@pytest.mark.postgresql_only
async def test_a_method_a_path_does_not_serve_is_405_naming_those_it_does(stack: Stack) -> None:
    headers = stack.auth("methods")
    one = f"/v1/generations/{uuid.uuid4()}"
    cases = [
        ("OPTIONS", one, "DELETE, GET, PATCH"),
        ("PUT", "/v1/projects", "GET, POST"),
        # A concrete path is matched before a templated one, as in OpenAPI: this is
        # the statistics, not a generation whose id is "statistics".
        ("PATCH", "/v1/generations/statistics", "GET"),
        ("DELETE", "/v1/generations/active", "GET"),
    ]
    for method, path, allowed in cases:
        response = await stack.http.request(method, path, headers=headers)
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["allow"] == allowed, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
    malformed = await stack.http.patch("/v1/generations/not-an-id", json={}, headers=headers)
    assert malformed.status_code == 422


def test_the_document_is_byte_identical_to_its_snapshot() -> None:
    # The contract is what clients code against: a refactor must leave it as it was, and a
    # deliberate change rewrites tests/openapi.json (python -m bench.openapi_snapshot).
    from bench.openapi_snapshot import SNAPSHOT, rendered

    assert rendered() == SNAPSHOT.read_text(encoding="utf-8")
