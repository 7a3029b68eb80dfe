"""Pure ASGI middleware: the request body limit (anything over 1 MiB is refused with
413 before it is read), the request id, and unhandled errors answered inside the stack."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genflow.logs import request_id
from genflow.settings import Settings

from .ratelimit import RATE_LIMIT_HEADERS, RateLimitHeadersMiddleware

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is kept if it is this short and plain (it goes into log lines
# and a response header); anything else is replaced by a generated one.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=@-]{1,128}")

MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class TrackedSend:
    """`send`, noting whether the response has started (after which no other answer
    can be given)."""

    def __init__(self, send: Send) -> None:
        self.started = False
        self._send = send

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


class HttpMiddleware:
    """An ASGI middleware for HTTP requests: anything else (the lifespan) passes by."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class BodyLimitMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        super().__init__(app)
        self.limit = limit

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        tracked = TrackedSend(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLarge:
            if not tracked.started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"The request body is larger than {self.limit} bytes."
        await send_problem(send, 413, "Content Too Large", detail)


async def send_problem(
    send: Send, status: int, title: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with a problem+json body from middleware, below FastAPI's handlers."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


JSON_TYPES = (b"application/json",)


class JsonBodyMiddleware(HttpMiddleware):
    """415 for a body that is not declared JSON: every body this API takes is JSON, and a
    form-encoded or untyped one (curl's `-d` without a `Content-Type`) would otherwise
    fail validation with a message that does not name the cause. A request without a
    body (retry, approve) needs no type."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        has_body = (length.isdigit() and int(length) > 0) or b"transfer-encoding" in headers
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if not has_body or media_type in JSON_TYPES or media_type.endswith(b"+json"):
            await self.app(scope, receive, send)
            return
        shown = media_type.decode("latin-1") or "none"
        detail = (
            "The body must be JSON, sent with Content-Type: application/json "
            f"(this one's type: {shown})."
        )
        accept = b"accept-patch" if scope["method"] == "PATCH" else b"accept-post"
        await send_problem(
            send, 415, "Unsupported Media Type", detail, [(accept, b"application/json")]
        )


class RequestIdMiddleware(HttpMiddleware):
    """Give every request an id: the client's `X-Request-ID` if it is plain (at most 128
    of `A-Z a-z 0-9 . _ : + / = @ -`), else a new UUID (hex). It is echoed on every
    response, and every log line written while the request is handled carries it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        current = sent if CLIENT_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        header = (REQUEST_ID_HEADER.lower().encode(), current.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = request_id.set(current)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class UnhandledErrorMiddleware(HttpMiddleware):
    """Answer an exception no route handled with the app's own `Exception` handler
    (a 503 for a database outage, else a 500 problem) here, inside the middleware
    stack, so that answer too gets the request id, CORS and rate-limit fields and is
    counted under its real status. Starlette would answer it outside every middleware.
    The handler logs the error; an exception after the response started goes on up."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as err:
            handler = scope["app"].exception_handlers.get(Exception)
            if tracked.started or handler is None:
                raise
            response = await handler(Request(scope), err)
            await response(scope, receive, send)


# What a browser script may send and read across origins (CORS).
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "Last-Event-ID",
    "Prefer",
    REQUEST_ID_HEADER,
)
CORS_EXPOSE_HEADERS = (
    "ETag",
    "Location",
    "Retry-After",
    "Content-Disposition",
    "Preference-Applied",
    REQUEST_ID_HEADER,
    *RATE_LIMIT_HEADERS,
)


def install_client_headers(app: FastAPI, settings: Settings) -> None:
    """The fields clients read on every response: `RateLimit-*`, then CORS (only with
    `GENFLOW_CORS_ORIGINS`), and outermost the request id, so even a CORS preflight
    carries it. Add after the metrics middleware (Starlette: last added, outermost)."""
    app.add_middleware(RateLimitHeadersMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=600,
        )
    app.add_middleware(RequestIdMiddleware)
