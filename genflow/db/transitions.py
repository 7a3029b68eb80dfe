"""The pipeline's transitions, written by activities: stages starting, retrying and
completing with their files, and the generation's end. Each method is one transaction;
each is idempotent (events by key, plain overwrites) and refuses a replaced run."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.base import SessionOwner
from genflow.db.events import append, append_all, elapsed_ms, finish_events, stage_event
from genflow.db.locks import end_stages, lock, lock_active, stage_row, stage_rows
from genflow.db.models import Artifact, Generation, Stage, utcnow
from genflow.db.usage import add_usage
from genflow.domain import (
    STAGES,
    TERMINAL_STATUSES,
    EventType,
    StageName,
    StageStatus,
    Status,
    stage_def,
)
from genflow.files import FileOut


class PipelineTransitions(SessionOwner):
    async def mark_processing(self, generation_id: uuid.UUID, run_id: str | None = None) -> bool:
        """pending -> processing. False if the generation is gone or already over. A
        new run of its workflow (an operator's Reset) reopens a generation that ended."""
        async with self._sessions.begin() as session:
            generation = await lock_for_new_work(session, generation_id, run_id, None)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return False
            await _start(session, generation, await stage_row(session, generation_id, STAGES[0]))
            return True

    async def mark_awaiting_approval(
        self, generation_id: uuid.UUID, run_id: str | None = None
    ) -> None:
        # The next stage is not queued while the generation waits for a person.
        await self._set_status(
            generation_id, Status.AWAITING_APPROVAL, "status:awaiting_approval", False, run_id
        )

    async def mark_approved(self, generation_id: uuid.UUID, run_id: str | None = None) -> None:
        await self._set_status(generation_id, Status.PROCESSING, "status:approved", True, run_id)

    async def _set_status(
        self,
        generation_id: uuid.UUID,
        status: Status,
        key: str,
        queued: bool,
        run_id: str | None,
    ) -> None:
        """Move an active generation to `status` (a cancel in flight keeps `cancelling`)
        and mark its next pending stage queued or not."""
        async with self._sessions.begin() as session:
            generation = await lock_active(session, generation_id, run_id)
            if generation is None:
                return
            if generation.status != Status.CANCELLING:
                generation.status = status
            pending = [
                row
                for row in await stage_rows(session, generation_id)
                if row.status == StageStatus.PENDING
            ]
            if pending:
                following = min(pending, key=lambda row: row.position)
                following.queued_at = (following.queued_at or utcnow()) if queued else None
            await append(session, generation, key, EventType.STATUS, {"status": status})

    async def stage_started(
        self,
        generation_id: uuid.UUID,
        stage: StageName,
        attempt: int,
        queue_ms: int | None = None,
        run_id: str | None = None,
        start: bool = False,
    ) -> bool | None:
        """Record attempt `attempt` of `stage` as running, after waiting `queue_ms` in
        the task queue; with `start` (the first stage), first pending -> processing as
        `mark_processing` does, in the same transaction. False if the generation has
        ended (cancelled meanwhile): the caller must not do the work; None if it has no
        row. A new run of its workflow (an operator's Reset) reopens a generation that
        ended, from this stage on."""
        async with self._sessions.begin() as session:
            generation = await lock_for_new_work(session, generation_id, run_id, stage)
            if generation is None:
                return None
            if generation.status in TERMINAL_STATUSES:
                return False
            row = await stage_row(session, generation_id, stage)
            if start:
                await _start(session, generation, row)
            row.status = StageStatus.RUNNING
            row.attempts = max(row.attempts, attempt)
            row.error = None
            if queue_ms is not None:
                row.queue_ms = queue_ms
            if row.started_at is None:
                row.started_at = utcnow()
            generation.stage = stage
            await append(
                session, generation, *stage_event(stage, StageStatus.RUNNING, attempt=attempt)
            )
            return True

    async def stage_retrying(
        self,
        generation_id: uuid.UUID,
        stage: StageName,
        attempt: int,
        error: str,
        own_error: bool = True,
        run_id: str | None = None,
    ) -> int:
        """Record that attempt `attempt` failed and will be retried. Returns how many
        attempts ended in the stage's own error (`own_error`; an infrastructure fault
        is recorded but not counted), each attempt counted once."""
        async with self._sessions.begin() as session:
            generation = await lock_active(session, generation_id, run_id)
            if generation is None:
                return 0
            row = await stage_row(session, generation_id, stage)
            row.status = StageStatus.RETRYING
            row.error = error
            appended = await append(
                session,
                generation,
                *stage_event(
                    stage, StageStatus.RETRYING, attempt=attempt, error=error, counted=own_error
                ),
            )
            if appended and own_error:
                row.failures = (row.failures or 0) + 1
            return row.failures or 0

    async def stage_completed(
        self,
        generation_id: uuid.UUID,
        stage: StageName,
        attempt: int,
        files: Sequence[FileOut] = (),
        quality_score: float | None = None,
        quality_report: dict[str, Any] | None = None,
        tokens: tuple[int, int] = (0, 0),
        run_id: str | None = None,
        sandbox_cpu_seconds: float = 0.0,
        complete: bool = False,
    ) -> bool:
        """Store the stage's files and mark it completed, in one transaction; count its
        usage (tokens, sandbox CPU) on the generation and on its user's day, once. With
        `complete` (the last stage), the generation completes in the same transaction."""
        async with self._sessions.begin() as session:
            generation = await lock_active(session, generation_id, run_id)
            if generation is None:
                return False
            existing = {
                a.path: a
                for a in await session.scalars(
                    select(Artifact).where(
                        Artifact.generation_id == generation_id,
                        Artifact.path.in_([f.path for f in files]),
                    )
                )
            }
            events: list[tuple[str, EventType, dict[str, Any]]] = []
            for file in files:
                digest = hashlib.sha256(file.content).hexdigest()
                artifact = existing.get(file.path)
                if artifact is None:
                    artifact = Artifact(generation_id=generation_id, path=file.path)
                    session.add(artifact)
                artifact.kind = file.kind
                artifact.content = file.content
                artifact.size_bytes = len(file.content)
                artifact.sha256 = digest
                artifact.media_type = file.media_type
                events.append(
                    (
                        f"artifact:{file.path}",
                        EventType.ARTIFACT,
                        {
                            "path": file.path,
                            "kind": file.kind,
                            "size_bytes": len(file.content),
                            "sha256": digest,
                        },
                    )
                )
            stages = {row.name: row for row in await stage_rows(session, generation_id)}
            row = stages[stage]
            following = stages.get(STAGES[STAGES.index(stage) + 1]) if stage != STAGES[-1] else None
            if following is not None and following.status == StageStatus.PENDING:
                following.queued_at = following.queued_at or utcnow()
            cpu_ms = round(sandbox_cpu_seconds * 1000)
            if (any(tokens) or cpu_ms) and row.status != StageStatus.COMPLETED:  # count once
                metrics = dict(generation.metrics)
                metrics["tokens_in"] = int(metrics.get("tokens_in", 0)) + tokens[0]
                metrics["tokens_out"] = int(metrics.get("tokens_out", 0)) + tokens[1]
                metrics["sandbox_cpu_ms"] = int(metrics.get("sandbox_cpu_ms", 0)) + cpu_ms
                generation.metrics = metrics
                await add_usage(session, generation.user_id, utcnow(), tokens, cpu_ms)
            now = utcnow()
            row.status = StageStatus.COMPLETED
            row.attempts = max(row.attempts, attempt)
            row.error = None
            row.ended_at = now
            row.duration_ms = elapsed_ms(row.started_at, now)
            setattr(generation, f"{stage}_ms", row.duration_ms)
            if quality_score is not None:
                generation.quality_score = quality_score
                generation.quality_report = quality_report
            generation.progress = max(generation.progress, stage_def(stage).progress)
            events.append(
                stage_event(
                    stage,
                    StageStatus.COMPLETED,
                    keyed_by_attempt=False,
                    attempt=row.attempts,
                    duration_ms=row.duration_ms,
                )
            )
            events.append(
                (
                    f"progress:{stage}",
                    EventType.PROGRESS,
                    {"progress": generation.progress, "stage": stage},
                )
            )
            await append_all(session, generation, events)
            if complete:
                await _complete(session, generation)
            return True

    async def complete(self, generation_id: uuid.UUID, run_id: str | None = None) -> None:
        async with self._sessions.begin() as session:
            generation = await lock_active(session, generation_id, run_id)
            if generation is not None:
                await _complete(session, generation)

    async def fail(
        self,
        generation_id: uuid.UUID,
        stage: str | None,
        code: str,
        message: str,
        run_id: str | None = None,
    ) -> None:
        """End it `failed` with `code` and `message`. `stage` is the stage that failed
        (one that had completed stays completed); None: the stage the row is at now (a
        reconciler's view of the row may be older than the row)."""
        await self._end(generation_id, run_id, Status.FAILED, stage=stage, error=(code, message))

    async def mark_cancelled(
        self, generation_id: uuid.UUID, reason: str | None, run_id: str | None = None
    ) -> None:
        await self._end(generation_id, run_id, Status.CANCELLED, reason=reason)

    async def _end(
        self,
        generation_id: uuid.UUID,
        run_id: str | None,
        status: Status,
        stage: str | None = None,
        error: tuple[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        """End an active generation `failed` (with `error`, in `stage`, or when None in
        the stage the row is at) or `cancelled` (with the `reason` unless the cancel
        request recorded one)."""
        async with self._sessions.begin() as session:
            generation = await lock_active(session, generation_id, run_id)
            if generation is None:
                return
            if error is not None and stage is None:
                stage = generation.stage
            now = utcnow()
            message = error[1] if error is not None else None
            # A rejection or a deadline during the approval wait names the stage
            # before the wait, which completed: then no stage failed.
            failed = await end_stages(session, generation_id, now, failed=stage, error=message)
            generation.status = status
            generation.completed_at = now
            if error is not None:
                generation.error_code, generation.error_message = error
            if status == Status.CANCELLED:
                generation.cancel_reason = generation.cancel_reason or reason
            if failed and stage is not None:
                await append(
                    session, generation, *stage_event(stage, StageStatus.FAILED, error=message)
                )
            await finish_events(session, generation)


async def _start(session: AsyncSession, generation: Generation, first: Stage) -> None:
    """pending -> processing (a cancel in flight keeps `cancelling`), its first stage
    queued from then if it was not yet, and the `status:processing` event once."""
    if generation.status == Status.PENDING:
        generation.status = Status.PROCESSING
        generation.started_at = generation.started_at or utcnow()
        first.queued_at = first.queued_at or generation.started_at
    await append(
        session, generation, "status:processing", EventType.STATUS, {"status": Status.PROCESSING}
    )


async def _complete(session: AsyncSession, generation: Generation) -> None:
    generation.status = Status.COMPLETED
    generation.stage = None
    generation.progress = 100
    generation.completed_at = utcnow()
    generation.run_ms = elapsed_ms(generation.started_at, generation.completed_at)
    await finish_events(session, generation)


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
    generation.progress = stage_def(STAGES[first - 1]).progress if first > 0 else 0
    await append(
        session,
        generation,
        "status:processing",
        EventType.STATUS,
        {"status": Status.PROCESSING, "reason": "a new run of the workflow (reset)"},
    )
