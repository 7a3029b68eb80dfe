"""Answering once a generation has moved, so a client need not poll: `Prefer: wait=N`
(RFC 7240) waits on the generation's shared poller (api/watching.py), and the
approve/reject answers poll the read model's status column every `watch_poll_seconds`.
No connection is held and nothing busy-loops in between."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Header, Request, Response

from genflow.db.models import Generation
from genflow.db.repository import GenerationRepository
from genflow.db.status import status_of
from genflow.domain import TERMINAL_STATUSES, Status

from ..deps import CurrentUser
from ..state import app_state
from ..watching import Watching

MAX_WAIT_SECONDS = 60
DISCONNECT_CHECK_SECONDS = 1.0  # how often a waiting request checks for its client
# A waiting request answers once the generation is in one of these: it ended, or it
# cannot move on without the caller (it waits for approval).
SETTLED = TERMINAL_STATUSES | {Status.AWAITING_APPROVAL}

PREFERENCE_APPLIED = {
    "Preference-Applied": {
        "description": "`wait=N`, when the request asked to wait: the seconds that applied.",
        "schema": {"type": "string"},
    }
}
PreferHeader = Annotated[
    list[str] | None,
    Header(
        alias="Prefer",
        description="`wait=N` (RFC 7240): answer once the generation has ended (or awaits "
        f"approval) or after N seconds, whichever is first; N above {MAX_WAIT_SECONDS} "
        f"counts as {MAX_WAIT_SECONDS}. The answer says `Preference-Applied: wait=N`. "
        "Other preferences, and a `wait` that is not a whole number, are ignored.",
    ),
]


def requested_wait(prefer: list[str] | None) -> int | None:
    """The seconds of the first `wait` preference in the `Prefer` header(s), capped
    at MAX_WAIT_SECONDS; None when there is none the server understands (RFC 7240
    says to ignore those rather than fail)."""
    for value in prefer or ():
        for preference in value.split(","):
            name, _, word = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() != "wait":
                continue
            seconds = word.strip().strip('"')
            if not seconds.isascii() or not seconds.isdigit():
                return None  # only the first instance of a preference counts
            return min(int(seconds), MAX_WAIT_SECONDS)
    return None


async def wait_for(
    repository: GenerationRepository,
    generation_id: uuid.UUID,
    moved: Callable[[str | None], bool],
    seconds: float,
    poll_seconds: float,
    request: Request | None = None,
) -> bool:
    """Poll the generation's status until `moved(status)` (None: it is gone), at most
    `seconds`, and stop early if the client went away. Whether it moved."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if moved(await status_of(repository.session_maker, generation_id)):
            return True
        left = deadline - loop.time()
        if left <= 0 or (request is not None and await request.is_disconnected()):
            return False
        await asyncio.sleep(min(poll_seconds, left))


def settled(status: str | None) -> bool:
    return status is None or status in SETTLED


class PreferWait:
    """A request's `Prefer: wait=N`, and the wait it asks for: on the generation's shared
    poller (api/watching.py), holding one of the user's waiting slots."""

    def __init__(self, request: Request, watching: Watching, seconds: int | None) -> None:
        self.seconds = seconds
        self._request = request
        self._watching = watching

    async def settle(self, row: Generation) -> Generation:
        """`row` read again once it has settled or the wait is over; `row` itself when
        no wait was asked for or it has settled already (or is gone meanwhile)."""
        if not self.seconds or settled(row.status):
            return row
        repository = app_state(self._request).repository
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        async with self._watching.watch(row.id) as watcher:
            while not settled(watcher.mark.status):
                left = deadline - loop.time()
                if left <= 0 or await self._request.is_disconnected():
                    break
                await watcher.moved(min(left, DISCONNECT_CHECK_SECONDS))
        return await repository.get_for_user(row.id, row.user_id) or row

    @property
    def headers(self) -> dict[str, str]:
        """`Preference-Applied` when a wait was asked for (and capped to what applied)."""
        return {} if self.seconds is None else {"Preference-Applied": f"wait={self.seconds}"}

    def apply(self, response: Response) -> None:
        response.headers.update(self.headers)


async def prefer_wait(
    request: Request, user: CurrentUser, prefer: PreferHeader = None
) -> AsyncIterator[PreferWait]:
    """The request's wait; one of the user's waiting slots is held while it runs (429
    past `max_waits_per_user`, before the request does anything)."""
    seconds = requested_wait(prefer)
    watching = app_state(request).watching
    slot = watching.take(user, "waits") if seconds else None
    try:
        yield PreferWait(request, watching, seconds)
    finally:
        if slot is not None:
            slot.release()


WaitDep = Annotated[PreferWait, Depends(prefer_wait)]
