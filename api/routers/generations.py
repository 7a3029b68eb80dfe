"""The generation resource."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from genflow.db.repository import Cursor
from genflow.domain import EventType, Status

from ..deps import CurrentUser, RepositoryDep, SettingsDep, TemporalDep
from ..problems import ProblemError
from ..schemas import CancelRequest, GenerationCreate, GenerationOut, GenerationPage, Problem
from ..service import GenerationService

router = APIRouter(prefix="/v1/generations", tags=["generations"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or invalid bearer token"},
    404: {"model": Problem, "description": "No such generation (or not yours)"},
    422: {"model": Problem, "description": "Invalid request"},
}


def _not_found() -> ProblemError:
    return ProblemError(404, "No such generation.")


@router.post(
    "",
    status_code=202,
    summary="Create a generation",
    responses={**PROBLEMS, 503: {"model": Problem, "description": "Temporal unavailable"}},
)
async def create_generation(
    body: GenerationCreate,
    user: CurrentUser,
    repository: RepositoryDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> GenerationOut:
    """Start a generation. The pipeline runs as a Temporal workflow; follow it with
    `GET urls.self` or `GET urls.stream`."""
    row = await GenerationService(repository, temporal, settings).create(user, body)
    out = GenerationOut.from_row(row)
    response.headers["Location"] = out.urls.self
    return out


@router.get("", summary="List your generations", responses=PROBLEMS)
async def list_generations(
    user: CurrentUser,
    repository: RepositoryDep,
    status: Annotated[list[Status] | None, Query(description="Repeatable.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> GenerationPage:
    """Newest first. Pass `next_cursor` back as `cursor` for the next page."""
    try:
        after = Cursor.decode(cursor) if cursor else None
    except ValueError as err:
        raise ProblemError(422, "The cursor is not valid.") from err
    rows, next_cursor = await repository.list_for_user(
        user, statuses=status or (), limit=limit, cursor=after
    )
    return GenerationPage(
        items=[GenerationOut.from_row(r) for r in rows],
        next_cursor=next_cursor.encode() if next_cursor else None,
    )


@router.get("/{generation_id}", summary="Get one generation", responses=PROBLEMS)
async def get_generation(
    generation_id: uuid.UUID, user: CurrentUser, repository: RepositoryDep
) -> GenerationOut:
    row = await repository.get_for_user(generation_id, user)
    if row is None:
        raise _not_found()
    return GenerationOut.from_row(row)


@router.post(
    "/{generation_id}/cancel",
    status_code=202,
    summary="Cancel a generation",
    responses={**PROBLEMS, 409: {"model": Problem, "description": "Already finished"}},
)
async def cancel_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    repository: RepositoryDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    body: CancelRequest | None = None,
) -> GenerationOut:
    """Ask the workflow to stop. The generation is `cancelling` until the running
    stage has stopped, then `cancelled` with the reason stored."""
    service = GenerationService(repository, temporal, settings)
    row = await service.cancel(user, generation_id, body.reason if body else None)
    return GenerationOut.from_row(row)


@router.get(
    "/{generation_id}/stream",
    summary="Stream a generation's events (SSE)",
    response_class=StreamingResponse,
    responses={**PROBLEMS, 200: {"content": {"text/event-stream": {}}}},
)
async def stream_generation(
    generation_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    repository: RepositoryDep,
    settings: SettingsDep,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events from the stored events: `status`, `stage`, `progress`,
    `artifact`, and `done` last. Resume with `Last-Event-ID` or `?after=N`."""
    if await repository.get_for_user(generation_id, user) is None:
        raise _not_found()
    start = after or 0
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise ProblemError(422, "Last-Event-ID must be a non-negative integer.")
        start = int(last_event_id)

    async def events() -> AsyncIterator[str]:
        cursor = start
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        yield "retry: 2000\n\n"
        while True:
            batch = await repository.events_after(generation_id, cursor)
            for event in batch:
                cursor = event.id
                yield f"id: {event.id}\nevent: {event.event}\ndata: {json.dumps(event.data)}\n\n"
                if event.event == EventType.DONE:
                    return
            if batch:
                last_sent = loop.time()
                continue
            if await request.is_disconnected():
                return
            if loop.time() - last_sent >= settings.sse_keepalive_seconds:
                yield ": keep-alive\n\n"
                last_sent = loop.time()
            await asyncio.sleep(settings.sse_poll_seconds)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
