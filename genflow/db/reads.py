"""The read model's reads: one generation, pages of them, their events and files."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import defer, raiseload, selectinload

from genflow.db.base import SessionOwner
from genflow.db.engine import reader
from genflow.db.limits import WINDOW, CreateWindow, creates_since
from genflow.db.listing import Cursor, ListFilters, filtered, page_after, split_page
from genflow.db.models import Artifact, Event, Generation, Stage
from genflow.domain import ACTIVE_STATUSES
from genflow.files import FileOut

# Built once, so that their cache keys are computed once (every GET runs one).
_GENERATION = (
    select(Generation)
    .where(Generation.id == bindparam("generation_id"))
    .options(
        selectinload(Generation.stages),
        selectinload(Generation.artifacts).options(defer(Artifact.content)),
    )
)
_USERS_GENERATION = _GENERATION.where(Generation.user_id == bindparam("user_id"))
# A generation's columns as a plain row whose fields are named as the model's
# attributes: what the presenter reads, without the cost of an ORM instance.
_USERS_GENERATION_ALONE = select(
    *(getattr(Generation, c.key).label(c.key) for c in sa_inspect(Generation).column_attrs)
).where(Generation.id == bindparam("generation_id"), Generation.user_id == bindparam("user_id"))
# Stages and artifact metadata as plain rows, in the relationships' order.
_STAGES = select(
    Stage.generation_id,
    Stage.name,
    Stage.status,
    Stage.attempts,
    Stage.started_at,
    Stage.ended_at,
    Stage.duration_ms,
    Stage.error,
    Stage.queued_at,
    Stage.queue_ms,
).order_by(Stage.position)
_ARTIFACTS = select(
    Artifact.generation_id,
    Artifact.id,
    Artifact.path,
    Artifact.kind,
    Artifact.size_bytes,
    Artifact.sha256,
    Artifact.media_type,
).order_by(Artifact.path)
_ONE_STAGE = Stage.generation_id == bindparam("generation_id")
_ONE_ARTIFACT = Artifact.generation_id == bindparam("generation_id")


@dataclass(frozen=True)
class ActiveRow:
    id: uuid.UUID
    workflow_id: str
    status: str
    stage: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Generation) -> ActiveRow:
        return cls(row.id, row.workflow_id, row.status, row.stage, row.created_at)


class GenerationReads(SessionOwner):
    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(select(1))

    async def get_for_user(self, generation_id: uuid.UUID, user_id: str) -> Generation | None:
        """The user's generation with its stages and artifact list (no contents)."""
        async with self._sessions() as session:
            return await session.scalar(
                _USERS_GENERATION, {"generation_id": generation_id, "user_id": user_id}
            )

    async def get(self, generation_id: uuid.UUID) -> Generation | None:
        async with self._sessions() as session:
            return await session.scalar(_GENERATION, {"generation_id": generation_id})

    async def count_by_status(self) -> dict[str, int]:
        """How many generations (of every user) are in each status."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Generation.status, func.count()).group_by(Generation.status)
            )
            return {str(status): count for status, count in rows}

    async def list_for_user(
        self,
        user_id: str,
        filters: ListFilters | None = None,
        *,
        limit: int = 20,
        cursor: Cursor | None = None,
    ) -> tuple[list[Generation], Cursor | None]:
        """One page, newest first, and the cursor of the next page (None at the end)."""
        query = page_after(filtered(user_id, filters or ListFilters(), self._dialect), cursor)
        query = query.limit(limit + 1).options(
            raiseload(Generation.stages), raiseload(Generation.artifacts)
        )
        async with self._sessions() as session:
            rows = list((await session.scalars(query)).all())
        return split_page(rows, limit)

    async def get_for_user_plain(
        self, generation_id: uuid.UUID, user_id: str
    ) -> tuple[Generation, list[Any], list[Any]] | None:
        """The user's generation, its stages and its artifact list (no contents), as
        plain rows on one read-only connection: what one GET shows, at a fraction of the
        cost of ORM objects and a session. The generation's row has the model's
        attribute names (not its relationships, which come as the other two)."""
        values = {"generation_id": generation_id, "user_id": user_id}
        async with reader(self._sessions).connect() as connection:
            row = (await connection.execute(_USERS_GENERATION_ALONE, values)).first()
            if row is None:
                return None
            stages = (await connection.execute(_STAGES.where(_ONE_STAGE), values)).all()
            files = (await connection.execute(_ARTIFACTS.where(_ONE_ARTIFACT), values)).all()
        return cast(Generation, row), list(stages), list(files)

    async def stages_and_artifacts(
        self, generation_ids: Sequence[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, list[Any]], dict[uuid.UUID, list[Any]]]:
        """Stage rows and artifact metadata of many generations, as plain rows (for
        list pages: far cheaper than loading them as ORM objects)."""
        stages: dict[uuid.UUID, list[Any]] = {i: [] for i in generation_ids}
        artifacts: dict[uuid.UUID, list[Any]] = {i: [] for i in generation_ids}
        if not generation_ids:
            return stages, artifacts
        async with self._sessions() as session:
            for stage in await session.execute(
                _STAGES.where(Stage.generation_id.in_(generation_ids))
            ):
                stages[stage.generation_id].append(stage)
            for artifact in await session.execute(
                _ARTIFACTS.where(Artifact.generation_id.in_(generation_ids))
            ):
                artifacts[artifact.generation_id].append(artifact)
        return stages, artifacts

    async def events_after(
        self, generation_id: uuid.UUID, after: int, limit: int = 500
    ) -> list[Event]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Event)
                .where(Event.generation_id == generation_id, Event.id > after)
                .order_by(Event.id)
                .limit(limit)
            )
            return list(rows.all())

    async def read_files(
        self, generation_id: uuid.UUID, kinds: Iterable[str] | None = None
    ) -> list[FileOut]:
        query = select(Artifact).where(Artifact.generation_id == generation_id)
        if kinds is not None:
            query = query.where(Artifact.kind.in_(list(kinds)))
        async with self._sessions() as session:
            rows = await session.scalars(query.order_by(Artifact.path))
            return [FileOut(a.path, a.kind, a.content, a.media_type) for a in rows.all()]

    async def read_file(self, generation_id: uuid.UUID, path: str) -> FileOut | None:
        async with self._sessions() as session:
            artifact = await session.scalar(
                select(Artifact).where(
                    Artifact.generation_id == generation_id, Artifact.path == path
                )
            )
            if artifact is None:
                return None
            return FileOut(artifact.path, artifact.kind, artifact.content, artifact.media_type)

    async def artifact_paths(self, generation_id: uuid.UUID) -> list[str]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Artifact.path)
                .where(Artifact.generation_id == generation_id)
                .order_by(Artifact.path)
            )
            return list(rows.all())

    async def count_active(self, user_id: str) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Generation)
                .where(Generation.user_id == user_id, Generation.status.in_(ACTIVE_STATUSES))
            )
            return int(count or 0)

    async def active_page(
        self, created_before: datetime, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[ActiveRow]:
        """One keyset page of everyone's active generations created before
        `created_before`, oldest first (the partial index `ix_generations_active`)."""
        query = (
            select(
                Generation.id,
                Generation.workflow_id,
                Generation.status,
                Generation.stage,
                Generation.created_at,
            )
            .where(Generation.status.in_(ACTIVE_STATUSES), Generation.created_at < created_before)
            .order_by(Generation.created_at, Generation.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(Generation.created_at, Generation.id) > after)
        async with self._sessions() as session:
            return [ActiveRow(*row) for row in await session.execute(query)]

    async def create_window(self, user_id: str, now: datetime) -> CreateWindow:
        """The user's creates in the minute before `now`, deleted generations included
        (genflow.db.limits): what the 429 and the `RateLimit-*` fields both read."""
        return await creates_since(self._sessions, user_id, now - WINDOW)
