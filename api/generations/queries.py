"""The filters, limit and cursor every list of generations accepts, and what a list
finds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Query

from genflow.db.listing import Cursor, ListFilters
from genflow.db.models import Generation
from genflow.domain import Status

from ..deps import built_inline
from ..problems import invalid_cursor
from ..schemas import Moment, Text


class ListQuery:
    """A list request's query parameters, read into the read model's filters."""

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
            raise invalid_cursor() from err
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


class Listed(NamedTuple):
    """A page of generations with their stages and artifacts, and the next page's cursor."""

    rows: list[Generation]
    stages: dict[uuid.UUID, list[Any]]
    artifacts: dict[uuid.UUID, list[Any]]
    next_cursor: Cursor | None
