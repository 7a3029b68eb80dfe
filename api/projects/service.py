"""Projects: create, list and read the caller's own (another user's answers 404)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from genflow.db.listing import Cursor
from genflow.db.models import Project
from genflow.db.projects import ProjectRepository
from genflow.settings import Settings

from ..ownership import get_own_project
from ..problems import invalid_cursor
from ..state import app_state
from .schemas import ProjectOut, ProjectPage


class ProjectService:
    def __init__(self, projects: ProjectRepository, settings: Settings) -> None:
        self._projects = projects
        self._settings = settings

    def present(self, project: Project) -> ProjectOut:
        """The resource, with `urls` under the public URL when one is configured."""
        return ProjectOut(
            id=project.id,
            name=project.name,
            description=project.description,
            created_at=project.created_at,
            urls={
                "self": self._settings.absolute(f"/v1/projects/{project.id}"),
                "generations": self._settings.absolute(f"/v1/generations/project/{project.id}"),
            },
        )

    async def create(self, user: str, name: str, description: str | None) -> ProjectOut:
        return self.present(await self._projects.create(user, name, description))

    async def page(self, user: str, limit: int, cursor: str | None) -> ProjectPage:
        try:
            after = Cursor.decode(cursor) if cursor else None
        except ValueError as err:
            raise invalid_cursor() from err
        rows, next_cursor = await self._projects.list_for_user(user, limit=limit, cursor=after)
        return ProjectPage(
            items=[self.present(row) for row in rows],
            next_cursor=next_cursor.encode() if next_cursor else None,
        )

    async def get(self, project_id: uuid.UUID, user: str) -> ProjectOut:
        return self.present(await get_own_project(self._projects, project_id, user))


async def get_project_service(request: Request) -> ProjectService:
    state = app_state(request)
    return ProjectService(state.projects, state.settings)


ProjectServiceDep = Annotated[ProjectService, Depends(get_project_service)]
