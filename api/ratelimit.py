"""`RateLimit-*` fields (draft-ietf-httpapi-ratelimit-headers) on every response to an
authenticated request: the caller's creates-per-minute quota.

- `RateLimit-Limit`: creates a minute (`GENFLOW_MAX_CREATES_PER_MINUTE`);
- `RateLimit-Remaining`: creates left in the last minute's window (deleted generations
  still count);
- `RateLimit-Reset`: seconds until the oldest create in the window leaves it and frees
  a slot (0: nothing counts);
- `RateLimit-Policy`: `<limit>;w=60`.

Responses to requests without a valid bearer token carry none (the quota is per user).

The fields cost no query per request: `CreateWindows` keeps each user's window as the
read model last gave it, and the window changes only by a create or by time. A create
on this process updates it with the window its admission read plus the new row; time
is accounted for by dropping a window when its oldest create leaves it. A create on
another API replica is seen within `MAX_AGE` (a window older than that is read again).
A count (one query over a `(user_id, created_at)` index, see genflow.db.limits) that
fails (a database outage) leaves the fields out rather than failing the response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genflow.auth import InvalidToken
from genflow.db.limits import WINDOW, CreateWindow
from genflow.db.models import utcnow
from genflow.db.repository import GenerationRepository
from genflow.settings import Settings

from .bearer import MissingToken, bearer_user
from .state import scope_state

log = logging.getLogger("genflow.api")
RATE_LIMIT_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
)
# How stale a window may be: what another replica's creates can hide, at most.
MAX_AGE = 1.0
# Users whose window is kept; past it, the stale ones are dropped.
MAX_USERS = 10_000


@dataclass
class _User:
    window: CreateWindow | None = None
    read_at: float = 0.0  # time.monotonic() of the read
    creating: int = 0  # creates between their admission and their row
    changes: int = 0  # creates begun or recorded, ever


# Within one request (a task's context): the window its admission read, and after its
# create the window its answer reports, so that a create's own answer costs no query
# even while the same user's other creates are under way (when no read can be kept).
_last_read: ContextVar[CreateWindow | None] = ContextVar("last_read", default=None)
_answer: ContextVar[CreateWindow | None] = ContextVar("answer", default=None)


class CreateWindows:
    """Each user's creates in the last minute, as last read, kept current by this
    process's own creates (see the module's docstring). A read is kept only if no
    create of the user was under way while it ran, so a create is never counted twice
    nor missed."""

    def __init__(self, max_age: float = MAX_AGE) -> None:
        self._users: dict[str, _User] = {}
        self._max_age = max_age

    def get(self, user: str, now: datetime) -> CreateWindow | None:
        known = self._users.get(user)
        if known is None or known.window is None:
            return None
        oldest = known.window.oldest
        if time.monotonic() - known.read_at > self._max_age or (
            oldest is not None and oldest + WINDOW <= now
        ):
            known.window = None
            return None
        return known.window

    async def read(self, user: str, fetch: Callable[[], Awaitable[CreateWindow]]) -> CreateWindow:
        """`fetch()` (the read model's answer), kept for the next requests if no create
        of `user` ran meanwhile."""
        known = self._user(user)
        before, quiet = known.changes, known.creating == 0
        window = await fetch()
        if quiet and known.changes == before:
            known.window, known.read_at = window, time.monotonic()
        _last_read.set(window)
        return window

    @asynccontextmanager
    async def creating(self, user: str) -> AsyncIterator[Callable[[datetime], None]]:
        """Around one create's insert: call the yielded function with the row's
        `created_at` once the row is in."""
        known = self._user(user)
        known.creating += 1
        known.changes += 1

        def created(at: datetime) -> None:
            if known.window is not None:
                known.window = CreateWindow(known.window.count + 1, known.window.oldest or at)
            # This create's own answer: the window its admission read, and itself.
            read = _last_read.get()
            if read is not None:
                _answer.set(CreateWindow(read.count + 1, read.oldest or at))

        try:
            yield created
        finally:
            known.creating -= 1

    def forget(self, user: str) -> None:
        """Read the window again next time (a row may appear later, from elsewhere)."""
        known = self._users.get(user)
        if known is not None:
            known.window = None
            known.changes += 1

    def _user(self, user: str) -> _User:
        known = self._users.get(user)
        if known is None:
            if len(self._users) >= MAX_USERS:
                self._prune()
            known = self._users[user] = _User()
        return known

    def _prune(self) -> None:
        horizon = time.monotonic() - self._max_age
        for user in [u for u, k in self._users.items() if k.creating == 0 and k.read_at < horizon]:
            del self._users[user]


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
                fields = await _quota_fields(state.repository, state.windows, settings, user)
                message = {**message, "headers": [*message.get("headers", ()), *fields]}
            await send(message)

        await self.app(scope, receive, send_with_quota)


def _user_of(scope: Scope, settings: Settings) -> str | None:
    """The user id of the request's bearer token, if it is valid."""
    try:
        return bearer_user(scope, settings)
    except (MissingToken, InvalidToken):
        return None


async def _quota_fields(
    repository: GenerationRepository, windows: CreateWindows, settings: Settings, user: str
) -> list[tuple[bytes, bytes]]:
    limit = settings.max_creates_per_minute
    now = utcnow()
    window = _answer.get() or windows.get(user, now)
    if window is None:
        try:
            window = await windows.read(user, lambda: repository.create_window(user, now))
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
