"""Locking a generation's row for a write, and which workflow run may write it.

A row records the workflow run that writes it (`run_id`). A late write of an older run
(one an operator's Reset replaced) is refused; new work from a newer run reopens a
generation that had ended (`lock_for_new_work`)."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.models import Generation
from genflow.db.transitions import reopen
from genflow.domain import TERMINAL_STATUSES, StageName

# FOR UPDATE serializes writers of one generation on PostgreSQL; SQLite transactions
# are already exclusive (BEGIN IMMEDIATE, see engine.py). Built once, as every write
# of a stage begins with it.
_LOCK = (
    select(Generation)
    .where(Generation.id == bindparam("generation_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


async def lock(session: AsyncSession, generation_id: uuid.UUID) -> Generation | None:
    return await session.scalar(_LOCK, {"generation_id": generation_id})


async def lock_for_run(
    session: AsyncSession, generation_id: uuid.UUID, run_id: str | None
) -> Generation | None:
    """The row, locked, if `run_id` (None: not a workflow's write) may write it: a
    late write of an older run (one an operator's Reset replaced) is refused."""
    generation = await lock(session, generation_id)
    if generation is None or run_id is None or generation.run_id in (None, run_id):
        return generation
    return None


async def lock_active(
    session: AsyncSession, generation_id: uuid.UUID, run_id: str | None
) -> Generation | None:
    """The row, locked, if it has not ended and `run_id` may write it (`lock_for_run`)."""
    generation = await lock_for_run(session, generation_id, run_id)
    if generation is None or generation.status in TERMINAL_STATUSES:
        return None
    return generation


async def lock_for_new_work(
    session: AsyncSession,
    generation_id: uuid.UUID,
    run_id: str | None,
    stage: StageName | None,
) -> Generation | None:
    """The row, locked, for new work of `run_id` (the workflow's start, a stage's
    attempt). New work from another run means a newer run (a closed run starts
    nothing): the row follows it, and one that had ended is reopened at `stage`."""
    generation = await lock(session, generation_id)
    if generation is None or run_id is None or generation.run_id == run_id:
        return generation
    if generation.run_id is not None:
        generation.run_epoch += 1  # a new run: its events get keys of their own
        if generation.status in TERMINAL_STATUSES:
            await reopen(session, generation, stage)
    generation.run_id = run_id
    return generation
