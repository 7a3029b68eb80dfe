"""A user's edits of a generation: its title, tags and metadata, and its deletion. Each
method is one transaction."""

from __future__ import annotations

import uuid
from typing import Any

from genflow.db.base import SessionOwner
from genflow.db.locks import lock
from genflow.db.models import DeletedGeneration, utcnow


class GenerationEdits(SessionOwner):
    async def update_fields(
        self, generation_id: uuid.UUID, user_id: str, changes: dict[str, Any]
    ) -> bool:
        """Apply `title`, `tags` and `metadata` changes. False if the user has no such row."""
        columns = {"title": "title", "tags": "tags", "metadata": "meta"}
        async with self._sessions.begin() as session:
            generation = await lock(session, generation_id)
            if generation is None or generation.user_id != user_id:
                return False
            for name, value in changes.items():
                setattr(generation, columns[name], value)
            generation.updated_at = utcnow()
            return True

    async def delete(self, generation_id: uuid.UUID, user_id: str) -> bool:
        """Delete the row with its stages, events and artifacts, and leave a tombstone
        so its workflow never inserts it again."""
        async with self._sessions.begin() as session:
            generation = await lock(session, generation_id)
            if generation is None or generation.user_id != user_id:
                return False
            if await session.get(DeletedGeneration, generation_id) is None:
                # Owner and creation time: the create keeps counting against the limit.
                session.add(
                    DeletedGeneration(
                        id=generation_id,
                        user_id=generation.user_id,
                        created_at=generation.created_at,
                    )
                )
            await session.delete(generation)
            return True
