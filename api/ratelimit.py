"""`RateLimit-*` fields (draft-ietf-httpapi-ratelimit-headers) on every response to an
authenticated request: the caller's creates-per-minute quota.

- `RateLimit-Limit`: creates a minute (`GENFLOW_MAX_CREATES_PER_MINUTE`);
- `RateLimit-Remaining`: creates left in the last minute's window (deleted generations
  still count);
- `RateLimit-Reset`: seconds until the oldest create in the window leaves it and frees
  a slot (0: nothing counts);
- `RateLimit-Policy`: `<limit>;w=60`.

Responses to requests without a valid bearer token carry none (the quota is per user).
The count is one query over a `(user_id, created_at)` index, bounded by the limit (see
genflow.db.limits); if it fails (a database outage), the response goes out without
the fields rather than failing.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genflow.auth import InvalidToken, verify_token
from genflow.db.limits import WINDOW
from genflow.db.models import utcnow
from genflow.db.repository import GenerationRepository
from genflow.settings import Settings

from .state import scope_state

log = logging.getLogger("genflow.api")
RATE_LIMIT_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
)


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope_state(scope)
        user = _user_of(scope, state.settings) if scope["type"] == "http" and state else None
        if user is None or state is None:
            await self.app(scope, receive, send)
            return
        settings = state.settings

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                fields = await _quota_fields(state.repository, settings, user)
                message = {**message, "headers": [*message.get("headers", ()), *fields]}
            await send(message)

        await self.app(scope, receive, send_with_quota)


def _user_of(scope: Scope, settings: Settings) -> str | None:
    """The user id of the request's bearer token, if it is valid."""
    authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return verify_token(token.strip(), settings.jwt_secret.get_secret_value())
    except InvalidToken:
        return None


async def _quota_fields(
    repository: GenerationRepository, settings: Settings, user: str
) -> list[tuple[bytes, bytes]]:
    limit = settings.max_creates_per_minute
    now = utcnow()
    try:
        window = await repository.create_window(user, now)
    except Exception as err:  # the answer itself matters more than its quota fields
        log.warning("could not count the creates of %s for RateLimit-*: %s", user, err)
        return []
    values = (
        limit,
        max(0, limit - window.count),
        window.seconds_until_a_slot_frees(now),
        f"{limit};w={int(WINDOW.total_seconds())}",
    )
    return [
        (name.lower().encode(), str(value).encode())
        for name, value in zip(RATE_LIMIT_HEADERS, values, strict=True)
    ]
