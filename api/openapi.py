"""The OpenAPI document, completed in one place.

Routes declare the answers only they give (404, 409, 429...). The answers that come from
the app's shared machinery are added here to every operation they apply to, so an
endpoint added later is documented without anyone remembering to:

- 400: a body that is not JSON-decodable text (not UTF-8, for one) on an operation that
  takes a body; 413: a body over the size limit; 415: a body not sent as JSON
  (api/middleware.py);
- 401 with `WWW-Authenticate`: any operation that needs a bearer token;
- 422: any operation with parameters or a body;
- 503 with `Retry-After`: any signed-in operation (they all read the read model);
- the `X-Request-ID` header on every answer, `RateLimit-*` on those to a signed-in call.

Every error answer is `application/problem+json` with the `Problem` schema (not FastAPI's
`HTTPValidationError`, which this app never sends), and `Retry-After` is declared where
the app sends it. An optional header or query parameter is left out, never null, so
its schema has no null. Each response that returns one generation or project links to
the operations on that resource (read, change, cancel, delete...), so clients and the
stateful fuzzer can follow what they created.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .problems import HTTP_METHODS, PROBLEM_JSON
from .schemas import Problem

PROBLEM_REF = "#/components/schemas/Problem"
# Schemas FastAPI puts on error answers by default; this app answers with `Problem`.
DEFAULT_ERROR_REFS = {"#/components/schemas/HTTPValidationError", PROBLEM_REF}

SHARED_ANSWERS = {
    400: "The body is not decodable JSON (for example, not UTF-8)",
    401: "Missing or invalid bearer token",
    413: "Request body over 1 MiB",
    415: "The body is not sent as `Content-Type: application/json`",
    422: "Invalid request; `errors` names each problem",
    503: "The database or Temporal is unreachable for the moment; retry after Retry-After",
}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
WWW_AUTHENTICATE = {
    "description": "The scheme to authenticate with: `Bearer`.",
    "required": True,
    "schema": {"type": "string"},
}
HEADERS_BY_STATUS = {
    "401": {"WWW-Authenticate": WWW_AUTHENTICATE},
    "429": {"Retry-After": RETRY_AFTER},
    "503": {"Retry-After": RETRY_AFTER},
}
# On every answer (api/middleware.py), and on every answer to a valid bearer token
# (api/ratelimit.py; left off while the database is unreachable).
REQUEST_ID = {
    "X-Request-ID": {
        "description": "The request's id (the client's own if it sent a plain one); "
        "every log line of the request carries it.",
        "required": True,
        "schema": {"type": "string"},
    }
}
RATE_LIMIT = {
    name: {"description": description, "required": False, "schema": {"type": "integer"}}
    for name, description in (
        ("RateLimit-Limit", "Your creates per minute."),
        ("RateLimit-Remaining", "Creates left in the current minute."),
        ("RateLimit-Reset", "Seconds until the oldest counted create leaves the window."),
    )
}
# Response schema -> the path parameter that names that resource elsewhere.
LINKED_RESOURCES = {
    "#/components/schemas/GenerationOut": "generation_id",
    "#/components/schemas/ProjectOut": "project_id",
}


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""

    build = app.openapi  # FastAPI's own builder, with all of the app's settings

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the shared answers, problem+json bodies, headers and links to `document`."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    operations = list(_operations(document))
    for _path, _method, operation in operations:
        responses = operation.setdefault("responses", {})
        for status in sorted(_shared_statuses(operation)):
            responses.setdefault(str(status), {"description": SHARED_ANSWERS[status]})
        for status, response in responses.items():
            if status[0] in "45" and _is_problem(response):
                response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
                if response.get("description") in (None, "Validation Error"):  # FastAPI's
                    response["description"] = SHARED_ANSWERS.get(int(status), "A problem")
                if status in HEADERS_BY_STATUS:
                    response.setdefault("headers", {}).update(HEADERS_BY_STATUS[status])
            response.setdefault("headers", {}).update(REQUEST_ID)
            if operation.get("security") and status != "401":
                response["headers"].update(RATE_LIMIT)
        for parameter in operation.get("parameters", []):
            _not_null(parameter)
        _add_links(operation, operations)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f'"#/components/schemas/{unused}"' not in str(document):
            del schemas[unused]
    return document


def _operations(document: dict[str, Any]) -> Any:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _shared_statuses(operation: dict[str, Any]) -> set[int]:
    statuses = set()
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    if operation.get("parameters"):
        statuses.add(422)
    if operation.get("security"):
        statuses |= {401, 503}
    return statuses


def _not_null(parameter: dict[str, Any]) -> None:
    """An optional parameter is left out, never null: a header or query string has no
    null (FastAPI declares `X | None` as anyOf [X, null])."""
    schema = parameter.get("schema", {})
    options = [option for option in schema.get("anyOf", []) if option != {"type": "null"}]
    if "anyOf" in schema and len(options) < len(schema["anyOf"]):
        del schema["anyOf"]
        if len(options) == 1:
            schema.update(options[0])
        else:
            schema["anyOf"] = options


def _is_problem(response: dict[str, Any]) -> bool:
    """An error answer is the app's problem document unless its route says otherwise
    (as /readyz does for its 503)."""
    content = response.get("content")
    if not content or PROBLEM_JSON in content:
        return True
    refs = {media.get("schema", {}).get("$ref") for media in content.values()}
    return refs <= DEFAULT_ERROR_REFS


def _add_links(
    operation: dict[str, Any], operations: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Link each answer that returns one resource to the operations that take its id."""
    for status, response in operation["responses"].items():
        if not status.startswith("2"):
            continue
        media = response.get("content", {}).get("application/json", {})
        parameter = LINKED_RESOURCES.get(media.get("schema", {}).get("$ref", ""))
        if parameter is None:
            continue
        links = response.setdefault("links", {})
        for target_path, _method, target in operations:
            if target is operation or f"{{{parameter}}}" not in target_path:
                continue
            links[target["operationId"]] = {
                "operationId": target["operationId"],
                "parameters": {f"path.{parameter}": "$response.body#/id"},
            }
