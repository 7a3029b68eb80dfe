"""Projects that generations belong to."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genflow.db.listing import Cursor
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
        query = select(Project).where(Project.user_id == user_id)
        if cursor is not None:
            query = query.where(
                or_(
                    Project.created_at < cursor.created_at,
                    and_(Project.created_at == cursor.created_at, Project.id < cursor.id),
                )
            )
        query = query.order_by(Project.created_at.desc(), Project.id.desc()).limit(limit + 1)
        async with self._sessions() as session:
            rows = list((await session.scalars(query)).all())
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], Cursor(last.created_at, last.id)
