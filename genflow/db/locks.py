"""Locking a generation's row for a write, and which workflow run may write it; the
stage rows of a generation that ends.

A row records the workflow run that writes it (`run_id`). A late write of an older run
(one an operator's Reset replaced) is refused (new work from a newer run reopens a
generation that had ended: `transitions.lock_for_new_work`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.events import elapsed_ms
from genflow.db.models import Generation, Stage
from genflow.domain import TERMINAL_STATUSES, StageStatus


async def lock(session: AsyncSession, generation_id: uuid.UUID) -> Generation | None:
    # FOR UPDATE serializes writers of one generation on PostgreSQL; SQLite
    # transactions are already exclusive (BEGIN IMMEDIATE, see engine.py).
    return await session.scalar(
        select(Generation)
        .where(Generation.id == generation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


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


async def end_stages(
    session: AsyncSession,
    generation_id: uuid.UUID,
    now: datetime,
    failed: str | None = None,
    error: str | None = None,
) -> bool:
    """The generation is ending: stage `failed` (unless it had completed) failed with
    `error`; every other stage that neither completed nor failed is skipped, and one
    that had started ends now. Returns whether stage `failed` was marked failed."""
    marked = False
    for row in await stage_rows(session, generation_id):
        if row.name == failed and row.status != StageStatus.COMPLETED:
            row.status = StageStatus.FAILED
            row.error = error
            marked = True
        elif row.status not in (StageStatus.COMPLETED, StageStatus.FAILED):
            row.status = StageStatus.SKIPPED
            if row.started_at is None:
                continue
        else:
            continue
        row.ended_at = now
        row.duration_ms = elapsed_ms(row.started_at, now)
    return marked


async def stage_row(session: AsyncSession, generation_id: uuid.UUID, stage: str) -> Stage:
    row = await session.get(Stage, (generation_id, stage))
    if row is None:
        raise LookupError(f"generation {generation_id} has no stage {stage}")
    return row


async def stage_rows(session: AsyncSession, generation_id: uuid.UUID) -> list[Stage]:
    rows = await session.scalars(select(Stage).where(Stage.generation_id == generation_id))
    return list(rows.all())
