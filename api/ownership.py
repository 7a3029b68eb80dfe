"""Ownership: a user sees only their own resources, and another user's answers 404,
exactly like one that does not exist."""

from __future__ import annotations

import uuid

from genflow.db.models import Generation, Project
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository

from .problems import ProblemError


def no_such_generation() -> ProblemError:
    """The 404 of a generation the caller does not have (or that does not exist)."""
    return ProblemError(404, "No such generation.")


async def get_own(
    repository: GenerationRepository, generation_id: uuid.UUID, user: str
) -> Generation:
    """The user's generation (with its stages and artifact list), or 404."""
    row = await repository.get_for_user(generation_id, user)
    if row is None:
        raise no_such_generation()
    return row


async def get_own_project(projects: ProjectRepository, project_id: uuid.UUID, user: str) -> Project:
    """The user's project, or 404."""
    project = await projects.get(project_id, user)
    if project is None:
        raise ProblemError(404, "No such project.")
    return project
