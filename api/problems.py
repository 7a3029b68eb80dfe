"""Every error is RFC 9457 `application/problem+json`."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from genflow.db.errors import is_database_outage, is_missing_schema

from .schemas import Problem

PROBLEM_JSON = "application/problem+json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# How long a client should wait before retrying while the read model is unreachable.
OUTAGE_RETRY_AFTER_SECONDS = 2
log = logging.getLogger("genflow.api")


class ProblemError(Exception):
    """Raise from an endpoint or service to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str = "about:blank",
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type
        self.headers = headers
        self.errors = errors


def invalid(where: str, field: str, message: str) -> ProblemError:
    """A 422 naming one field of the request: `where` is "body" or "query"."""
    return ProblemError(
        422,
        "The request is invalid.",
        errors=[{"loc": [where, field], "msg": message, "type": "value_error"}],
    )


def invalid_cursor() -> ProblemError:
    """The 422 of a `cursor` that no list handed out (every list answers it alike)."""
    return invalid("query", "cursor", "not a cursor")


def problems(*statuses: int, missing: str = "generation") -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem+json answers an endpoint can give; a 404 names
    the `missing` resource."""
    described = {
        401: "Missing or invalid bearer token",
        404: f"No such {missing} (or not yours)",
        409: "Conflicts with the generation's state",
        413: "Request body over 1 MiB",
        422: "Invalid request",
        429: "Per-user limit reached (creates, active generations, daily tokens, open "
        "streams or waiting requests); see Retry-After",
        503: "Temporal or the database unreachable for the moment; retry after Retry-After",
    }
    return {
        status: {
            "model": Problem,
            "description": described[status],
            "content": {"application/problem+json": {}},
        }
        for status in sorted({401, 422, 503, *statuses})
    }


def problem_response(
    status: int,
    detail: str | None,
    *,
    type: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    if status == 503 and "Retry-After" not in (headers or {}):  # the OpenAPI document promises it
        headers = {**(headers or {}), "Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]


def declared_methods(request: Request) -> tuple[set[str], bool]:
    """The methods the OpenAPI document declares at the request's path, and whether
    that path is a concrete one. As in OpenAPI, a concrete path is matched before a
    templated one: /v1/generations/statistics is not a generation id."""
    concrete: set[str] = set()
    templated: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods = {method.upper() for method in item if method in HTTP_METHODS}
            (templated if "{" in template else concrete).update(methods)
    return (concrete, True) if concrete else (templated, False)


def _not_allowed(methods: set[str]) -> JSONResponse:
    return problem_response(
        405, "Method Not Allowed", headers={"Allow": ", ".join(sorted(methods))}
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, type=exc.type, headers=exc.headers, errors=exc.errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:  # Starlette's Allow names only the first route's methods
            methods, _concrete = declared_methods(request)
            if methods:
                return _not_allowed(methods)
        return problem_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(error["loc"][:1] == ["path"] for error in errors):
            # PATCH /v1/generations/statistics reached PATCH /v1/generations/{id}.
            methods, concrete = declared_methods(request)
            if concrete and request.method not in methods:
                return _not_allowed(methods)
        return problem_response(422, "The request is invalid.", errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_missing_schema(exc):  # reachable, but never migrated
            log.error("the read model has no tables: run `genflow migrate`")
            return problem_response(
                503,
                "The database has no genflow tables yet: run `genflow migrate` (genflow up "
                "does it itself), then try again.",
                headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
            )
        if is_database_outage(exc):  # an outage, not a bug: the client retries
            log.warning(
                "read model unreachable on %s %s: %s", request.method, request.url.path, exc
            )
            return problem_response(
                503,
                "The database is unreachable for the moment. Try again shortly.",
                headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "An unexpected error occurred.")
