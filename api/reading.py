"""Reading generations: one (owned or 404), pages of them, their statistics, their
events and files; and the edits of their title, tags and metadata."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from genflow.db.listing import ListFilters
from genflow.db.models import Event, Generation, utcnow
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.db.statistics import StatisticsRepository
from genflow.db.usage import UsageRepository, day_of, next_midnight
from genflow.files import FileOut
from genflow.settings import Settings

from .ownership import get_own, get_own_project, no_such_generation
from .problems import ProblemError
from .routers.common import ListQuery, as_json, present
from .schemas import GenerationOut, GenerationPage, StatisticsOut
from .schemas.responses import QuotaOut
from .state import app_state


class ReadService:
    def __init__(
        self,
        repository: GenerationRepository,
        projects: ProjectRepository,
        statistics: StatisticsRepository,
        settings: Settings,
    ) -> None:
        self._repository = repository
        self._projects = projects
        self._statistics = statistics
        self._settings = settings

    def present(
        self,
        row: Generation,
        stages: Sequence[Any] | None = None,
        artifacts: Sequence[Any] | None = None,
    ) -> GenerationOut:
        return present(row, self._settings, stages, artifacts)

    async def get(self, generation_id: uuid.UUID, user: str) -> Generation:
        return await get_own(self._repository, generation_id, user)

    async def get_presented(self, generation_id: uuid.UUID, user: str) -> GenerationOut:
        """The user's generation as the API shows it, or 404 (the cheapest read: its
        stages and artifacts as plain rows)."""
        found = await self._repository.get_for_user_plain(generation_id, user)
        if found is None:
            raise no_such_generation()
        return self.present(*found)

    async def page(self, user: str, query: ListQuery, **narrow: Any) -> Response:
        """One page of the user's generations matching `query`, narrowed further by
        `narrow` (ListFilters fields), serialized once."""
        filters = ListFilters(**{**query.filters.__dict__, **narrow})
        rows, next_cursor = await self._repository.list_for_user(
            user, filters, limit=query.limit, cursor=query.cursor
        )
        stages, artifacts = await self._repository.stages_and_artifacts([row.id for row in rows])
        return as_json(
            GenerationPage(
                items=[self.present(row, stages[row.id], artifacts[row.id]) for row in rows],
                next_cursor=next_cursor.encode() if next_cursor else None,
            )
        )

    async def project_page(self, project_id: uuid.UUID, user: str, query: ListQuery) -> Response:
        await get_own_project(self._projects, project_id, user)
        return await self.page(user, query, project_id=str(project_id))

    async def statistics(self, user: str) -> StatisticsOut:
        """The counts, with each day's usage and today's quota beside them."""
        stats = await self._statistics.for_user(user)
        out = StatisticsOut.model_validate(stats, from_attributes=True)
        now = utcnow()
        first = now - timedelta(days=len(out.daily))
        usage = await UsageRepository(self._repository.session_maker).days(user, first, now)
        for day in out.daily:
            used = usage.get(day.date.isoformat())
            if used is not None:
                day.tokens_in, day.tokens_out = used.tokens_in, used.tokens_out
                day.sandbox_cpu_seconds = used.sandbox_cpu_seconds
        today = usage.get(day_of(now))
        quota = self._settings.daily_token_quota_per_user
        out.quota = QuotaOut(
            tokens_used_today=today.tokens if today else 0,
            daily_token_quota=quota or None,
            resets_at=next_midnight(now),
        )
        return out

    async def update(
        self, generation_id: uuid.UUID, user: str, changes: dict[str, Any]
    ) -> GenerationOut:
        """Only `title`, `tags` and `metadata` change; null for a list or map is 422."""
        if changes.get("tags", []) is None or changes.get("metadata", {}) is None:
            raise ProblemError(422, "tags and metadata cannot be null; send [] or {}.")
        if not await self._repository.update_fields(generation_id, user, changes):
            raise no_such_generation()
        return self.present(await self.get(generation_id, user))

    # -- content of a generation the caller owns (checked with `get` first) ------------

    async def events_after(
        self, generation_id: uuid.UUID, after: int, limit: int = 500
    ) -> list[Event]:
        return await self._repository.events_after(generation_id, after, limit)

    async def file(self, generation_id: uuid.UUID, path: str) -> FileOut | None:
        return await self._repository.read_file(generation_id, path)

    async def paths(self, generation_id: uuid.UUID) -> list[str]:
        return await self._repository.artifact_paths(generation_id)


async def get_reads(request: Request) -> ReadService:
    state = app_state(request)
    return ReadService(state.repository, state.projects, state.statistics, state.settings)


ReadsDep = Annotated[ReadService, Depends(get_reads)]
