"""The endpoints of projects, the groups that generations belong to."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from ..deps import CurrentUser
from ..problems import problems
from .schemas import ProjectCreate, ProjectOut, ProjectPage
from .service import ProjectServiceDep

router = APIRouter(prefix="/v1/projects", tags=["projects"])


@router.post("", status_code=201, summary="Create a project", responses=problems(413))
async def create_project(
    body: ProjectCreate, user: CurrentUser, projects: ProjectServiceDep, response: Response
) -> ProjectOut:
    """Generations name their project with `project_id`."""
    out = await projects.create(user, body.name, body.description)
    response.headers["Location"] = out.urls["self"]
    return out


@router.get("", summary="List your projects", responses=problems())
async def list_projects(
    user: CurrentUser,
    projects: ProjectServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ProjectPage:
    """Newest first, with a keyset cursor like the generations list."""
    return await projects.page(user, limit, cursor)


@router.get("/{project_id}", summary="Get one project", responses=problems(404, missing="project"))
async def get_project(
    project_id: uuid.UUID, user: CurrentUser, projects: ProjectServiceDep
) -> ProjectOut:
    return await projects.get(project_id, user)
