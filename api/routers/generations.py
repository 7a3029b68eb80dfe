"""The generation resource: create, list, read, change, cancel, delete, iterate."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from genflow.db.listing import Cursor, ListFilters
from genflow.db.repository import GenerationRepository
from genflow.domain import ACTIVE_STATUSES, Status

from ..deps import (
    CurrentUser,
    IdempotencyKeyHeader,
    MetricsDep,
    ProjectsDep,
    RepositoryDep,
    ServiceDep,
    StatisticsDep,
)
from ..problems import ProblemError
from ..schemas import (
    CancelRequest,
    DecisionRequest,
    GenerationCreate,
    GenerationOut,
    GenerationPage,
    GenerationUpdate,
    IterationCreate,
    Problem,
    StatisticsOut,
    Text,
)

router = APIRouter(prefix="/v1/generations", tags=["generations"])


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem+json answers an endpoint can give."""
    described = {
        401: "Missing or invalid bearer token",
        404: "No such generation (or not yours)",
        409: "Conflicts with the generation's state",
        413: "Request body over 1 MiB",
        422: "Invalid request",
        429: "Per-user limit reached; see Retry-After",
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


class ListQuery:
    """The filters, limit and cursor every list of generations accepts."""

    def __init__(
        self,
        status: Annotated[list[Status] | None, Query(description="Repeatable.")] = None,
        project: Annotated[Text | None, Query(alias="project_id", max_length=255)] = None,
        min_quality: Annotated[float | None, Query(ge=0, le=100)] = None,
        max_quality: Annotated[float | None, Query(ge=0, le=100)] = None,
        created_after: Annotated[datetime | None, Query()] = None,
        created_before: Annotated[datetime | None, Query()] = None,
        tag: Annotated[Text | None, Query(min_length=1, max_length=64)] = None,
        q: Annotated[
            Text | None, Query(min_length=1, max_length=200, description="In title or prompt.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor`.")] = None,
    ) -> None:
        try:
            self.cursor = Cursor.decode(cursor) if cursor else None
        except ValueError as err:
            raise ProblemError(
                422,
                "The request is invalid.",
                errors=[{"loc": ["query", "cursor"], "msg": "not a cursor", "type": "value_error"}],
            ) from err
        self.filters = ListFilters(
            statuses=tuple(status or ()),
            project_id=project,
            min_quality=min_quality,
            max_quality=max_quality,
            created_after=_aware(created_after),
            created_before=_aware(created_before),
            tag=tag,
            q=q,
        )
        self.limit = limit


def _aware(moment: datetime | None) -> datetime | None:
    return moment.astimezone() if moment is not None and moment.tzinfo is None else moment


ListDep = Annotated[ListQuery, Depends()]


def as_json(model: BaseModel) -> Response:
    """Serialize a response model once (FastAPI would validate it again first)."""
    return Response(model.model_dump_json(), media_type="application/json")


async def _page(
    repository: GenerationRepository, user: str, query: ListQuery, **narrow: Any
) -> Response:
    filters = ListFilters(**{**query.filters.__dict__, **narrow})
    rows, next_cursor = await repository.list_for_user(
        user, filters, limit=query.limit, cursor=query.cursor
    )
    stages, artifacts = await repository.stages_and_artifacts([row.id for row in rows])
    return as_json(
        GenerationPage(
            items=[GenerationOut.from_row(row, stages[row.id], artifacts[row.id]) for row in rows],
            next_cursor=next_cursor.encode() if next_cursor else None,
        )
    )


async def _own(repository: GenerationRepository, generation_id: uuid.UUID, user: str) -> Any:
    row = await repository.get_for_user(generation_id, user)
    if row is None:
        raise ProblemError(404, "No such generation.")
    return row


@router.post(
    "", status_code=202, summary="Create a generation", responses=problems(409, 413, 429, 503)
)
async def create_generation(
    body: GenerationCreate,
    user: CurrentUser,
    service: ServiceDep,
    metrics: MetricsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """Start a generation; the pipeline runs as a Temporal workflow. Follow it with
    `urls.self` or `urls.stream`. With an `Idempotency-Key`, a retry returns the same
    generation."""
    out = GenerationOut.from_row(await service.create(user, body, idempotency_key))
    metrics.generations_created.inc()
    response.headers["Location"] = out.urls.self
    return out


@router.get(
    "", summary="List your generations", response_model=GenerationPage, responses=problems()
)
async def list_generations(
    user: CurrentUser, repository: RepositoryDep, query: ListDep
) -> Response:
    """Newest first, filtered. Pass `next_cursor` back as `cursor` for the next page;
    pages stay stable while new generations are created."""
    return await _page(repository, user, query)


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
    user: CurrentUser, repository: RepositoryDep, query: ListDep
) -> Response:
    """Generations that are pending, processing, awaiting approval or cancelling."""
    wanted = tuple(s for s in (query.filters.statuses or ACTIVE_STATUSES) if s in ACTIVE_STATUSES)
    if not wanted:  # only inactive statuses asked for
        return as_json(GenerationPage(items=[], next_cursor=None))
    return await _page(repository, user, query, statuses=wanted)


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
    query: ListDep,
) -> Response:
    if await projects.get(project_id, user) is None:
        raise ProblemError(404, "No such project.")
    return await _page(repository, user, query, project_id=str(project_id))


@router.get(
    "/{generation_id}",
    summary="Get one generation",
    response_model=GenerationOut,
    responses=problems(404),
)
async def get_generation(
    generation_id: uuid.UUID, user: CurrentUser, repository: RepositoryDep
) -> Response:
    """The generation with its stages, artifacts, score and metrics."""
    return as_json(GenerationOut.from_row(await _own(repository, generation_id, user)))


@router.patch(
    "/{generation_id}", summary="Change title, tags or metadata", responses=problems(404, 413)
)
async def update_generation(
    generation_id: uuid.UUID, body: GenerationUpdate, user: CurrentUser, repository: RepositoryDep
) -> GenerationOut:
    """Only `title`, `tags` and `metadata` can change; any other field is 422."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("tags", []) is None or changes.get("metadata", {}) is None:
        raise ProblemError(422, "tags and metadata cannot be null; send [] or {}.")
    if not await repository.update_fields(generation_id, user, changes):
        raise ProblemError(404, "No such generation.")
    return GenerationOut.from_row(await _own(repository, generation_id, user))


@router.delete(
    "/{generation_id}",
    status_code=204,
    summary="Delete a generation",
    responses=problems(404, 503),
)
async def delete_generation(
    generation_id: uuid.UUID, user: CurrentUser, service: ServiceDep
) -> Response:
    """Cancels it first if active, then removes it with its stages, events and files."""
    await service.delete(user, generation_id)
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
    service: ServiceDep,
    body: CancelRequest | None = None,
) -> GenerationOut:
    """Ask the workflow to stop. The generation is `cancelling` until the running
    stage has stopped, then `cancelled` with the reason stored. Already finished: 409."""
    row = await service.cancel(user, generation_id, body.reason if body else None)
    return GenerationOut.from_row(row)


@router.get(
    "/{generation_id}/iterations",
    summary="Generations iterated from this one",
    response_model=GenerationPage,
    responses=problems(404),
)
async def list_iterations(
    generation_id: uuid.UUID, user: CurrentUser, repository: RepositoryDep, query: ListDep
) -> Response:
    await _own(repository, generation_id, user)
    return await _page(repository, user, query, parent_id=generation_id)


@router.post(
    "/{generation_id}/iterate",
    status_code=202,
    summary="Iterate on a completed generation",
    responses=problems(404, 409, 413, 429, 503),
)
async def iterate_generation(
    generation_id: uuid.UUID,
    body: IterationCreate,
    user: CurrentUser,
    service: ServiceDep,
    metrics: MetricsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerationOut:
    """A new generation whose pipeline starts from this one's spec and files, with
    `parent_id`, `root_id` and `iteration` set. The parent must be completed (else 409)."""
    row = await service.iterate(user, generation_id, body, idempotency_key)
    metrics.generations_created.inc()
    out = GenerationOut.from_row(row)
    response.headers["Location"] = out.urls.self
    return out


@router.post(
    "/{generation_id}/approve",
    status_code=202,
    summary="Approve a generation waiting after schema extraction",
    responses=problems(404, 409, 503),
)
async def approve_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    service: ServiceDep,
    body: DecisionRequest | None = None,
) -> GenerationOut:
    """The spec is `artifacts/spec.json`; approving continues with code generation.
    Not awaiting approval: 409."""
    row = await service.decide(user, generation_id, True, body.reason if body else None)
    return GenerationOut.from_row(row)


@router.post(
    "/{generation_id}/reject",
    status_code=202,
    summary="Reject a generation waiting after schema extraction",
    responses=problems(404, 409, 503),
)
async def reject_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    service: ServiceDep,
    body: DecisionRequest | None = None,
) -> GenerationOut:
    """Ends it `failed` with `error.code = rejected` and the reason. Not awaiting
    approval: 409."""
    row = await service.decide(user, generation_id, False, body.reason if body else None)
    return GenerationOut.from_row(row)
