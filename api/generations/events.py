"""The events of a generation, as a Server-Sent Events stream that resumes where it left."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from genflow.domain import TERMINAL_STATUSES, EventType

from ..deps import CurrentUser, SettingsDep, WatchingDep
from ..problems import problems
from ..watching import Slot
from .dependencies import ServiceDep

router = APIRouter(prefix="/v1/generations", tags=["generations"])

MAX_EVENT_ID = 2**31 - 1  # event ids are 32-bit integers
DISCONNECT_CHECK = 1.0  # seconds between a waiting stream's checks for its client


class HeldStream(StreamingResponse):
    """A stream that gives its user's stream slot back however it ends: finished, the
    client gone, or never started."""

    def __init__(self, content: AsyncIterator[str], slot: Slot, **options: Any) -> None:
        super().__init__(content, **options)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


@router.get(
    "/{generation_id}/stream",
    summary="Stream a generation's events (SSE)",
    response_class=StreamingResponse,
    responses={**problems(404, 429), 200: {"content": {"text/event-stream": {}}}},
)
async def stream_generation(
    generation_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    generations: ServiceDep,
    settings: SettingsDep,
    watching: WatchingDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_EVENT_ID)] = None,
) -> StreamingResponse:
    """Server-Sent Events from the stored events: `status`, `stage`, `progress`,
    `artifact`, and `done` last (after an operator's Reset the new run's events follow
    the earlier `done`; the stream ends after the last one). Resume with `Last-Event-ID`
    or `?after=N`: exactly the events after N, also after the generation ended. A
    comment line every 15 s. Resuming a generation that has ended past its last event
    (its `done`) ends the stream at once. A user holds at most `max_streams_per_user`
    open streams (default 10): past it, 429 with `Retry-After`."""
    slot = watching.take(user, "streams")
    try:
        ended = (await generations.get(generation_id, user)).status in TERMINAL_STATUSES
    except BaseException:
        slot.release()
        raise
    start = after or 0
    if last_event_id is not None:
        start = last_event_id

    async def events() -> AsyncIterator[str]:
        cursor = start
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        yield "retry: 2000\n\n"
        async with watching.watch(generation_id) as watcher:
            while True:
                batch = await generations.events_after(generation_id, cursor)
                for event in batch:
                    cursor = event.id
                    data = json.dumps(event.data)
                    yield f"id: {event.id}\nevent: {event.event}\ndata: {data}\n\n"
                # The stream ends after the last `done` (a reset workflow writes a later one).
                if batch and batch[-1].event == EventType.DONE:
                    if not await generations.events_after(generation_id, cursor, limit=1):
                        return
                    continue
                if batch:
                    last_sent = loop.time()
                    continue
                if ended:  # nothing after the cursor, and nothing more will come
                    return
                while True:  # until the shared poller sees the generation move
                    if await request.is_disconnected():
                        return
                    if loop.time() - last_sent >= settings.sse_keepalive_seconds:
                        yield ": keep-alive\n\n"
                        last_sent = loop.time()
                    keepalive_in = settings.sse_keepalive_seconds - (loop.time() - last_sent)
                    if await watcher.moved(max(0.0, min(keepalive_in, DISCONNECT_CHECK))):
                        break

    return HeldStream(
        events(),
        slot,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
