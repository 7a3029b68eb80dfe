"""What the generation routers share: the problem answers they declare, the resource as
clients see it, ownership, and the filters every list takes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel

from genflow.db.listing import Cursor, ListFilters
from genflow.db.models import Generation
from genflow.domain import Status
from genflow.settings import Settings

from ..deps import IdempotencyKeyHeader, MetricsDep, ServiceDep, SettingsDep, built_inline
from ..problems import ProblemError
from ..schemas import GenerationOut, Moment, Problem, Text
from ..waiting import WaitDep


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


class ListQuery:
    """The filters, limit and cursor every list of generations accepts."""

    def __init__(
        self,
        status: Annotated[list[Status] | None, Query(description="Repeatable.")] = None,
        project: Annotated[Text | None, Query(alias="project_id", max_length=255)] = None,
        min_quality: Annotated[float | None, Query(ge=0, le=100)] = None,
        max_quality: Annotated[float | None, Query(ge=0, le=100)] = None,
        created_after: Annotated[Moment | None, Query()] = None,
        created_before: Annotated[Moment | None, Query()] = None,
        tag: Annotated[Text | None, Query(min_length=1, max_length=64)] = None,
        q: Annotated[
            Text | None, Query(min_length=1, max_length=200, description="In title or prompt.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor`.")] = None,
        root_id: Annotated[
            uuid.UUID | None,
            Query(description="A whole iteration chain: this root and every iteration of it."),
        ] = None,
        retry_of: Annotated[
            uuid.UUID | None, Query(description="The retries of this generation.")
        ] = None,
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
            root_id=root_id,
            retry_of=retry_of,
        )
        self.limit = limit


def _aware(moment: datetime | None) -> datetime | None:
    return moment.astimezone() if moment is not None and moment.tzinfo is None else moment


ListDep = Annotated[ListQuery, Depends(built_inline(ListQuery))]


def as_json(model: BaseModel) -> Response:
    """Serialize a response model once (FastAPI would validate it again first)."""
    return Response(model.model_dump_json(), media_type="application/json")


def present(
    row: Generation,
    settings: Settings,
    stages: Sequence[Any] | None = None,
    artifacts: Sequence[Any] | None = None,
) -> GenerationOut:
    """The resource, with `urls` under the public URL when one is configured."""
    return GenerationOut.from_row(row, stages, artifacts, public_url=settings.public_url)


class Start:
    """What a route that starts a generation (create, iterate, retry) needs besides
    its input, and its answer: after the wait the client asked for (if any), with
    `Location` and `Preference-Applied`."""

    def __init__(
        self,
        service: ServiceDep,
        metrics: MetricsDep,
        settings: SettingsDep,
        wait: WaitDep,
        response: Response,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> None:
        self.service = service
        self.idempotency_key = idempotency_key
        self._metrics = metrics
        self._settings = settings
        self._wait = wait
        self._response = response

    async def answer(self, row: Generation) -> GenerationOut:
        self._metrics.generations_created.inc()
        out = present(await self._wait.settle(row), self._settings)
        self._response.headers["Location"] = out.urls.self
        self._wait.apply(self._response)
        return out


StartDep = Annotated[Start, Depends(built_inline(Start))]
