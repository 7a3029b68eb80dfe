"""What a transition does to a locked generation and its stage rows, inside the
caller's transaction: the start, the completion, the end of its stages, a reopening for a
new run of its workflow. The repository's transitions (`status_transitions`,
`stage_transitions`) and `locks.lock_for_new_work` call these."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.events import append, elapsed_ms, finish_events
from genflow.db.models import Generation, Stage, utcnow
from genflow.domain import STAGES, EventType, StageName, StageStatus, Status, stage_def


async def start_generation(session: AsyncSession, generation: Generation, first: Stage) -> None:
    """pending -> processing (a cancel in flight keeps `cancelling`), its first stage
    queued from then if it was not yet, and the `status:processing` event once."""
    if generation.status == Status.PENDING:
        generation.status = Status.PROCESSING
        generation.started_at = generation.started_at or utcnow()
        first.queued_at = first.queued_at or generation.started_at
    await append(
        session, generation, "status:processing", EventType.STATUS, {"status": Status.PROCESSING}
    )


async def complete_generation(session: AsyncSession, generation: Generation) -> None:
    generation.status = Status.COMPLETED
    generation.stage = None
    generation.progress = 100
    generation.completed_at = utcnow()
    generation.run_ms = elapsed_ms(generation.started_at, generation.completed_at)
    await finish_events(session, generation)


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


_STAGES = select(Stage).where(Stage.generation_id == bindparam("generation_id"))


async def stage_rows(session: AsyncSession, generation_id: uuid.UUID) -> list[Stage]:
    rows = await session.scalars(_STAGES, {"generation_id": generation_id})
    return list(rows.all())


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
    generation.progress = stage_def(STAGES[first - 1]).progress if first > 0 else 0
    await append(
        session,
        generation,
        "status:processing",
        EventType.STATUS,
        {"status": Status.PROCESSING, "reason": "a new run of the workflow (reset)"},
    )
