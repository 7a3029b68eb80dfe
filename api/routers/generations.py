"""The generation resource: create, list, read, change, iterate, retry. (Cancel, delete,
approve and reject are in lifecycle.py; files and the event stream in content.py.)"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from genflow.domain import ACTIVE_STATUSES

from ..conditional import (
    ETAG_HEADER,
    NOT_MODIFIED,
    IfNoneMatchHeader,
    conditional_response,
    digest_of,
    entity_tag,
)
from ..deps import (
    CurrentUser,
    IdempotencyKeyHeader,
    MetricsDep,
    ProjectsDep,
    RepositoryDep,
    ServiceDep,
    SettingsDep,
    StatisticsDep,
)
from ..problems import ProblemError
from ..schemas import (
    GenerationCreate,
    GenerationOut,
    GenerationPage,
    GenerationUpdate,
    IterationCreate,
    StatisticsOut,
)
from ..waiting import PREFERENCE_APPLIED, WaitDep
from .common import ListDep, as_json, own, page, present, problems, started

router = APIRouter(prefix="/v1/generations", tags=["generations"])
# The headers of an answer that started a generation.
STARTED = {
    "headers": {
        "Location": {
            "description": "The new generation's `urls.self`",
            "schema": {"type": "string"},
        },
        **PREFERENCE_APPLIED,
    }
}


@router.post(
    "",
    status_code=202,
    summary="Create a generation",
    responses={**problems(409, 413, 429, 503), 202: STARTED},
)
async def create_generation(
    body: GenerationCreate,
    user: CurrentUser,
    service: ServiceDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    wait: WaitDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """Start a generation; the pipeline runs as a Temporal workflow. Follow it with
    `urls.self` or `urls.stream`. With an `Idempotency-Key`, a retry returns the same
    generation. With `Prefer: wait=N`, the answer (still 202) comes once it has ended
    or awaits approval, or after N seconds, with its latest state."""
    row = await service.create(user, body, idempotency_key)
    metrics.generations_created.inc()
    return await started(row, settings, wait, response)


@router.get(
    "", summary="List your generations", response_model=GenerationPage, responses=problems()
)
async def list_generations(
    user: CurrentUser, repository: RepositoryDep, settings: SettingsDep, query: ListDep
) -> Response:
    """Newest first, filtered. Pass `next_cursor` back as `cursor` for the next page;
    pages stay stable while new generations are created."""
    return await page(repository, settings, user, query)


@router.get("/statistics", summary="Your generation statistics", responses=problems())
async def generation_statistics(user: CurrentUser, statistics: StatisticsDep) -> StatisticsOut:
    """Totals by status, success rate, average quality, run time p50/p95, per-stage
    average and p95, and daily counts for the last 30 days."""
    stats = await statistics.for_user(user)
    return StatisticsOut.model_validate(stats, from_attributes=True)


@router.get(
    "/active",
    summary="Your active generations",
    response_model=GenerationPage,
    responses=problems(),
)
async def active_generations(
    user: CurrentUser, repository: RepositoryDep, settings: SettingsDep, query: ListDep
) -> Response:
    """Generations that are pending, processing, awaiting approval or cancelling."""
    wanted = tuple(s for s in (query.filters.statuses or ACTIVE_STATUSES) if s in ACTIVE_STATUSES)
    if not wanted:  # only inactive statuses asked for
        return as_json(GenerationPage(items=[], next_cursor=None))
    return await page(repository, settings, user, query, statuses=wanted)


@router.get(
    "/project/{project_id}",
    summary="List the generations of one project",
    response_model=GenerationPage,
    responses=problems(404),
)
async def project_generations(
    project_id: uuid.UUID,
    user: CurrentUser,
    repository: RepositoryDep,
    projects: ProjectsDep,
    settings: SettingsDep,
    query: ListDep,
) -> Response:
    if await projects.get(project_id, user) is None:
        raise ProblemError(404, "No such project.")
    return await page(repository, settings, user, query, project_id=str(project_id))


@router.get(
    "/{generation_id}",
    summary="Get one generation",
    response_model=GenerationOut,
    responses={
        **problems(404),
        **NOT_MODIFIED,
        200: {"headers": {**ETAG_HEADER, **PREFERENCE_APPLIED}},
    },
)
async def get_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    repository: RepositoryDep,
    settings: SettingsDep,
    wait: WaitDep,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    """The generation with its stages, artifacts, score and metrics, and an `ETag`
    that changes whenever anything in it does: send it back in `If-None-Match` for a
    bodyless 304 while nothing changed. With `Prefer: wait=N`, the answer comes once
    it has ended or awaits approval, or after N seconds."""
    row = await wait.settle(await own(repository, generation_id, user))
    content = present(row, settings).model_dump_json().encode()
    etag = entity_tag(digest_of(content))
    return conditional_response(content, "application/json", etag, if_none_match, wait.headers)


@router.patch(
    "/{generation_id}", summary="Change title, tags or metadata", responses=problems(404, 413)
)
async def update_generation(
    generation_id: uuid.UUID,
    body: GenerationUpdate,
    user: CurrentUser,
    repository: RepositoryDep,
    settings: SettingsDep,
) -> GenerationOut:
    """Only `title`, `tags` and `metadata` can change; any other field is 422."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("tags", []) is None or changes.get("metadata", {}) is None:
        raise ProblemError(422, "tags and metadata cannot be null; send [] or {}.")
    if not await repository.update_fields(generation_id, user, changes):
        raise ProblemError(404, "No such generation.")
    return present(await own(repository, generation_id, user), settings)


@router.get(
    "/{generation_id}/iterations",
    summary="Generations iterated from this one",
    response_model=GenerationPage,
    responses=problems(404),
)
async def list_iterations(
    generation_id: uuid.UUID,
    user: CurrentUser,
    repository: RepositoryDep,
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
    await own(repository, generation_id, user)
    if every:
        return await page(repository, settings, user, query, descendants_of=generation_id)
    return await page(repository, settings, user, query, parent_id=generation_id)


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
    service: ServiceDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    wait: WaitDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """A new generation whose pipeline starts from this one's spec and files, with
    `parent_id`, `root_id` and `iteration` set. The parent must be completed (else 409).
    It takes create's options; `provider` and `model` default to the parent's.
    `Idempotency-Key` and `Prefer: wait=N` as on create."""
    row = await service.iterate(user, generation_id, body, idempotency_key)
    metrics.generations_created.inc()
    return await started(row, settings, wait, response)


@router.post(
    "/{generation_id}/retry",
    status_code=202,
    summary="Rerun a failed or cancelled generation",
    responses={**problems(404, 409, 429, 503), 202: STARTED},
)
async def retry_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    service: ServiceDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    wait: WaitDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """A new generation, with its own id and workflow, from the same input as this
    failed or cancelled one (prompt, template, variables, provider, model, title, tags,
    metadata, and its approval, webhook and deadline options), with `retry_of` set to
    this one. Any other status: 409. `Idempotency-Key` and `Prefer: wait=N` as on
    create."""
    row = await service.retry(user, generation_id, idempotency_key)
    metrics.generations_created.inc()
    return await started(row, settings, wait, response)
