"""The endpoints of the generation resource itself: create, list, read, change, iterate,
retry, cancel and delete. Its sub-resources have their own: approval.py, events.py and
artifacts.py. Each route authenticates, calls the service, and presents the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from genflow.domain import ACTIVE_STATUSES

from ..conditional import ETAG_HEADER, NOT_MODIFIED, IfNoneMatchHeader, conditional_response
from ..deps import CurrentUser, IdempotencyKeyHeader, SettingsDep
from ..problems import problems
from .dependencies import ServiceDep
from .presenters import STARTED, StartedDep, as_json, page
from .queries import ListDep
from .resource import GenerationOut, GenerationPage, present
from .schemas import (
    CancelRequest,
    GenerationCreate,
    GenerationUpdate,
    IterationCreate,
    RetryRequest,
)
from .statistics import StatisticsOut
from .waiting import PREFERENCE_APPLIED, WaitDep

router = APIRouter(prefix="/v1/generations", tags=["generations"])


@router.post(
    "",
    status_code=202,
    summary="Create a generation",
    responses={**problems(409, 413, 429, 503), 202: STARTED},
)
async def create_generation(
    body: GenerationCreate,
    user: CurrentUser,
    generations: ServiceDep,
    answer: StartedDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """Start a generation; the pipeline runs as a Temporal workflow. Follow it with
    `urls.self` or `urls.stream`. With an `Idempotency-Key`, a retry returns the same
    generation. With `Prefer: wait=N`, the answer (still 202) comes once it has ended
    or awaits approval, or after N seconds, with its latest state."""
    return await answer(await generations.create(user, body, idempotency_key))


@router.get(
    "", summary="List your generations", response_model=GenerationPage, responses=problems()
)
async def list_generations(
    user: CurrentUser, generations: ServiceDep, settings: SettingsDep, query: ListDep
) -> Response:
    """Newest first, filtered. Pass `next_cursor` back as `cursor` for the next page;
    pages stay stable while new generations are created."""
    return page(await generations.page(user, query), settings)


@router.get("/statistics", summary="Your generation statistics", responses=problems())
async def generation_statistics(user: CurrentUser, generations: ServiceDep) -> StatisticsOut:
    """Totals by status, success rate, average quality, run time p50/p95, per-stage
    average and p95, and daily counts for the last 30 days."""
    return await generations.statistics(user)


@router.get(
    "/active",
    summary="Your active generations",
    response_model=GenerationPage,
    responses=problems(),
)
async def active_generations(
    user: CurrentUser, generations: ServiceDep, settings: SettingsDep, query: ListDep
) -> Response:
    """Generations that are pending, processing, awaiting approval or cancelling."""
    wanted = tuple(s for s in (query.filters.statuses or ACTIVE_STATUSES) if s in ACTIVE_STATUSES)
    if not wanted:  # only inactive statuses asked for
        return as_json(GenerationPage(items=[], next_cursor=None))
    return page(await generations.page(user, query, statuses=wanted), settings)


@router.get(
    "/project/{project_id}",
    summary="List the generations of one project",
    response_model=GenerationPage,
    responses=problems(404, missing="project"),
)
async def project_generations(
    project_id: uuid.UUID,
    user: CurrentUser,
    generations: ServiceDep,
    settings: SettingsDep,
    query: ListDep,
) -> Response:
    return page(await generations.project_page(project_id, user, query), settings)


@router.get(
    "/{generation_id}",
    summary="Get one generation",
    response_model=GenerationOut,
    responses={
        **problems(404, 429),
        **NOT_MODIFIED,
        200: {"headers": {**ETAG_HEADER, **PREFERENCE_APPLIED}},
    },
)
async def get_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    generations: ServiceDep,
    settings: SettingsDep,
    wait: WaitDep,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    """The generation with its stages, artifacts, score and metrics, and an `ETag`
    that changes whenever anything in it does: send it back in `If-None-Match` for a
    bodyless 304 while nothing changed. With `Prefer: wait=N`, the answer comes once
    it has ended or awaits approval, or after N seconds; a user holds at most
    `max_waits_per_user` waiting requests (default 10): past it, 429 with `Retry-After`."""
    if wait.seconds:
        shown = present(await wait.settle(await generations.get(generation_id, user)), settings)
    else:
        row, stages, artifacts = await generations.get_plain(generation_id, user)
        shown = present(row, settings, stages, artifacts)
    content = shown.model_dump_json().encode()
    return conditional_response(content, "application/json", if_none_match, wait.headers)


@router.patch(
    "/{generation_id}", summary="Change title, tags or metadata", responses=problems(404, 413)
)
async def update_generation(
    generation_id: uuid.UUID,
    body: GenerationUpdate,
    user: CurrentUser,
    generations: ServiceDep,
) -> GenerationOut:
    """Only `title`, `tags` and `metadata` can change; any other field is 422."""
    changes = body.model_dump(exclude_unset=True)
    return generations.present(await generations.update(generation_id, user, changes))


@router.get(
    "/{generation_id}/iterations",
    summary="Generations iterated from this one",
    response_model=GenerationPage,
    responses=problems(404),
)
async def list_iterations(
    generation_id: uuid.UUID,
    user: CurrentUser,
    generations: ServiceDep,
    settings: SettingsDep,
    query: ListDep,
    every: Annotated[
        bool,
        Query(
            alias="all",
            description="Also the iterations of its iterations, at any depth (of a root: "
            "its whole chain but itself).",
        ),
    ] = False,
) -> Response:
    """The generations iterated directly from this one; with `all=true`, at any depth.
    The list filters, limit and cursor apply."""
    await generations.get(generation_id, user)
    if every:
        return page(await generations.page(user, query, descendants_of=generation_id), settings)
    return page(await generations.page(user, query, parent_id=generation_id), settings)


@router.post(
    "/{generation_id}/iterate",
    status_code=202,
    summary="Iterate on a completed generation",
    responses={**problems(404, 409, 413, 429, 503), 202: STARTED},
)
async def iterate_generation(
    generation_id: uuid.UUID,
    body: IterationCreate,
    user: CurrentUser,
    generations: ServiceDep,
    answer: StartedDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """A new generation whose pipeline starts from this one's spec and files, with
    `parent_id`, `root_id` and `iteration` set. The parent must be completed (else 409).
    It takes create's options; `provider` and `model` default to the parent's.
    `Idempotency-Key` and `Prefer: wait=N` as on create."""
    return await answer(await generations.iterate(user, generation_id, body, idempotency_key))


@router.post(
    "/{generation_id}/retry",
    status_code=202,
    summary="Rerun a failed or cancelled generation",
    responses={**problems(404, 409, 429, 503), 202: STARTED},
)
async def retry_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    generations: ServiceDep,
    answer: StartedDep,
    body: RetryRequest | None = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """A new generation, with its own id and workflow, from the same input as this
    failed or cancelled one (prompt, template, variables, provider, model, title, tags,
    metadata, and its approval, webhook, deadline and priority options), with
    `retry_of` set to this one; an optional body may set another `priority`. Any other
    status: 409. `Idempotency-Key` and `Prefer: wait=N` as on create."""
    priority = body.priority if body is not None else None
    return await answer(await generations.retry(user, generation_id, idempotency_key, priority))


@router.delete(
    "/{generation_id}",
    status_code=204,
    summary="Delete a generation",
    responses=problems(404, 503),
)
async def delete_generation(
    generation_id: uuid.UUID, user: CurrentUser, generations: ServiceDep
) -> Response:
    """Cancels it first if active, then removes it with its stages, events and files."""
    await generations.delete(user, generation_id)
    return Response(status_code=204)


@router.post(
    "/{generation_id}/cancel",
    status_code=202,
    summary="Cancel a generation",
    responses=problems(404, 409, 503),
)
async def cancel_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    generations: ServiceDep,
    body: CancelRequest | None = None,
) -> GenerationOut:
    """Ask the workflow to stop. The generation is `cancelling` until the running
    stage has stopped, then `cancelled` with the reason stored. Already finished: 409."""
    row = await generations.cancel(user, generation_id, body.reason if body else None)
    return generations.present(row)
