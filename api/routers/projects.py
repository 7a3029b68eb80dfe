"""Projects that generations belong to."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from genflow.db.listing import Cursor
from genflow.db.models import Project
from genflow.settings import Settings

from ..deps import CurrentUser, ProjectsDep, SettingsDep
from ..problems import ProblemError
from ..schemas import ProjectCreate, ProjectOut, ProjectPage
from .generations import problems

router = APIRouter(prefix="/v1/projects", tags=["projects"])


def _out(project: Project, settings: Settings) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        created_at=project.created_at,
        urls={
            "self": settings.absolute(f"/v1/projects/{project.id}"),
            "generations": settings.absolute(f"/v1/generations/project/{project.id}"),
        },
    )


@router.post("", status_code=201, summary="Create a project", responses=problems(413))
async def create_project(
    body: ProjectCreate,
    user: CurrentUser,
    projects: ProjectsDep,
    settings: SettingsDep,
    response: Response,
) -> ProjectOut:
    """Generations name their project with `project_id`."""
    out = _out(await projects.create(user, body.name, body.description), settings)
    response.headers["Location"] = out.urls["self"]
    return out


@router.get("", summary="List your projects", responses=problems())
async def list_projects(
    user: CurrentUser,
    projects: ProjectsDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ProjectPage:
    """Newest first, with a keyset cursor like the generations list."""
    try:
        after = Cursor.decode(cursor) if cursor else None
    except ValueError as err:
        raise ProblemError(422, "The cursor is not valid.") from err
    rows, next_cursor = await projects.list_for_user(user, limit=limit, cursor=after)
    return ProjectPage(
        items=[_out(row, settings) for row in rows],
        next_cursor=next_cursor.encode() if next_cursor else None,
    )


@router.get("/{project_id}", summary="Get one project", responses=problems(404))
async def get_project(
    project_id: uuid.UUID, user: CurrentUser, projects: ProjectsDep, settings: SettingsDep
) -> ProjectOut:
    project = await projects.get(project_id, user)
    if project is None:
        raise ProblemError(404, "No such project.")
    return _out(project, settings)
