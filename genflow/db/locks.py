"""Locking a generation's row for a write, and which workflow run may write it.

A row records the workflow run that writes it (`run_id`). A late write of an older run
(one an operator's Reset replaced) is refused; new work from a newer run reopens a
generation that had ended."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.events import append
from genflow.db.models import Generation, Stage
from genflow.domain import (
    STAGE_PROGRESS,
    STAGES,
    TERMINAL_STATUSES,
    EventType,
    StageName,
    StageStatus,
    Status,
)


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


async def reopen(session: AsyncSession, generation: Generation, stage: StageName | None) -> None:
    """Back to processing for a reset workflow: `stage` and the stages after it
    (all stages when None) will run again."""
    first = STAGES.index(stage) if stage is not None else 0
    for row in await stage_rows(session, generation.id):
        if STAGES.index(StageName(row.name)) >= first:
            row.status = StageStatus.PENDING
            row.started_at = row.ended_at = row.duration_ms = row.error = None
            row.failures = 0
    generation.status = Status.PROCESSING
    generation.error_code = generation.error_message = None
    generation.completed_at = generation.run_ms = None
    generation.cancel_reason = None
    generation.stage = stage
    generation.progress = STAGE_PROGRESS[STAGES[first - 1]] if first > 0 else 0
    await append(
        session,
        generation,
        "status:processing",
        EventType.STATUS,
        {"status": Status.PROCESSING, "reason": "a new run of the workflow (reset)"},
    )


async def stage_row(session: AsyncSession, generation_id: uuid.UUID, stage: str) -> Stage:
    row = await session.get(Stage, (generation_id, stage))
    if row is None:
        raise LookupError(f"generation {generation_id} has no stage {stage}")
    return row


async def stage_rows(session: AsyncSession, generation_id: uuid.UUID) -> list[Stage]:
    rows = await session.scalars(select(Stage).where(Stage.generation_id == generation_id))
    return list(rows.all())
