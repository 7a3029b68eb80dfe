"""Projects that generations belong to."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.listing import Cursor, keyset, split_page
from genflow.db.models import Project, utcnow


class ProjectRepository:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_maker

    async def create(self, user_id: str, name: str, description: str | None) -> Project:
        project = Project(
            id=uuid.uuid4(),
            user_id=user_id,
            name=name,
            description=description,
            created_at=utcnow(),
        )
        async with self._sessions.begin() as session:
            session.add(project)
        return project

    async def get(self, project_id: uuid.UUID, user_id: str) -> Project | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Project).where(Project.id == project_id, Project.user_id == user_id)
            )

    async def list_for_user(
        self, user_id: str, *, limit: int, cursor: Cursor | None
    ) -> tuple[list[Project], Cursor | None]:
        query = keyset(
            select(Project).where(Project.user_id == user_id),
            Project.created_at,
            Project.id,
            cursor,
        )
        async with self._sessions() as session:
            rows = list((await session.scalars(query.limit(limit + 1))).all())
        return split_page(rows, limit)
