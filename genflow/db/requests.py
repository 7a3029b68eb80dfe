"""What the API writes: new generations (and large inputs), edits, deletes, cancel
requests and idempotency keys. Each method is one transaction."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from genflow.contracts import GenerationInput
from genflow.db.base import SessionOwner
from genflow.db.events import append
from genflow.db.locks import lock
from genflow.db.models import (
    DeletedGeneration,
    Event,
    Generation,
    IdempotencyKey,
    Stage,
    StoredInput,
    utcnow,
)
from genflow.db.new_generation import NewGeneration, new_generation_values
from genflow.domain import TERMINAL_STATUSES, EventType, Status

# The tables of the core inserts below.
GENERATION_TABLE = cast(Table, Generation.__table__)
STAGE_TABLE = cast(Table, Stage.__table__)
EVENT_TABLE = cast(Table, Event.__table__)
# Whether a generation's row, tombstone or stored input exists (built once).
_PRESENT = select(
    exists().where(Generation.id == bindparam("generation_id")),
    exists().where(DeletedGeneration.id == bindparam("generation_id")),
    exists().where(StoredInput.generation_id == bindparam("generation_id")),
)


class ApiWrites(SessionOwner):
    async def insert_generation(self, new: NewGeneration) -> bool:
        """Insert the row, its stages and the first `status` event unless the row
        exists (or was deleted). Returns whether this call inserted it; safe to race
        with itself. Core statements, one round trip each: this is every create's path."""
        values = new_generation_values(new)
        try:
            async with self._sessions.begin() as session:
                found = await session.execute(_PRESENT, {"generation_id": new.id})
                inserted, deleted, stored = found.one()
                if inserted or deleted:
                    return False  # there, or deleted by its user before the workflow got here
                await session.execute(insert(GENERATION_TABLE), [values.generation])
                await session.execute(insert(STAGE_TABLE), values.stages)
                await session.execute(insert(EVENT_TABLE), [values.first_event])
                if stored:  # the large input kept for the workflow: the row has it now
                    await session.execute(
                        delete(StoredInput).where(StoredInput.generation_id == new.id)
                    )
        except IntegrityError:
            return False  # the other writer (API or workflow) inserted it first
        return True

    async def store_input(self, new: NewGeneration) -> None:
        """Keep a large request's prompt, variables and metadata for its workflow
        (whose input then leaves them out); idempotent."""
        async with self._sessions.begin() as session:
            if await session.get(StoredInput, new.id) is None:
                session.add(
                    StoredInput(
                        generation_id=new.id,
                        prompt=new.prompt,
                        variables=new.variables,
                        meta=new.metadata,
                    )
                )

    async def insert_from_workflow_input(self, input: GenerationInput) -> uuid.UUID:
        """Insert the row from its workflow's input, unless it exists (the API may have
        died after starting the workflow), with a large request's kept fields; its id."""
        new = NewGeneration.from_workflow_input(input)
        if input.stored_input:
            new = await self.with_stored_input(new)
        await self.insert_generation(new)
        return new.id

    async def with_stored_input(self, new: NewGeneration) -> NewGeneration:
        """`new` with the fields `store_input` kept (unchanged if none are kept)."""
        async with self._sessions() as session:
            stored = await session.get(StoredInput, new.id)
        if stored is None:
            return new
        return replace(new, prompt=stored.prompt, variables=stored.variables, metadata=stored.meta)

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

    async def request_cancel(
        self, generation_id: uuid.UUID, user_id: str, reason: str | None
    ) -> Generation | None:
        """Mark an active generation `cancelling` with its reason. Returns the row
        (unchanged when it already ended) or None when the user has no such row."""
        async with self._sessions.begin() as session:
            generation = await lock(session, generation_id)
            if generation is None or generation.user_id != user_id:
                return None
            if generation.status in TERMINAL_STATUSES:
                return generation
            if generation.status != Status.CANCELLING:
                generation.status = Status.CANCELLING
                generation.cancel_reason = reason
                await append(
                    session,
                    generation,
                    "status:cancelling",
                    EventType.STATUS,
                    {"status": Status.CANCELLING, "reason": reason},
                )
            return generation

    async def get_idempotency_key(self, user_id: str, key: str) -> IdempotencyKey | None:
        async with self._sessions() as session:
            return await session.get(IdempotencyKey, (user_id, key))

    async def claim_idempotency_key(
        self, user_id: str, key: str, request_hash: str, generation_id: uuid.UUID, ttl: timedelta
    ) -> IdempotencyKey | None:
        """Record `key` for a new generation. Returns None when this call claimed it,
        else the existing record (an expired one is replaced)."""
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(IdempotencyKey, (user_id, key))
                if existing is not None and existing.created_at > utcnow() - ttl:
                    return existing
                if existing is not None:
                    await session.delete(existing)
                    await session.flush()
                session.add(
                    IdempotencyKey(
                        user_id=user_id,
                        key=key,
                        request_hash=request_hash,
                        generation_id=generation_id,
                        created_at=utcnow(),
                    )
                )
            return None
        except IntegrityError:
            async with self._sessions() as session:
                return await session.get(IdempotencyKey, (user_id, key))
