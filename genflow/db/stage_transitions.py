"""A stage's attempts, written by its activity: started, retrying, and completed with
its files and usage. Each method is one transaction; each is idempotent (events by key,
plain overwrites) and refuses a replaced run."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.base import SessionOwner
from genflow.db.events import append, append_all, elapsed_ms, stage_event
from genflow.db.locks import lock_active, lock_for_new_work
from genflow.db.models import Artifact, utcnow
from genflow.db.transitions import complete_generation, stage_row, stage_rows, start_generation
from genflow.db.usage import add_usage
from genflow.domain import STAGES, TERMINAL_STATUSES, EventType, StageName, StageStatus, stage_def
from genflow.files import FileOut


class StageTransitions(SessionOwner):
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
                await start_generation(session, generation, row)
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
        run_id: str | None = None,
    ) -> int:
        """Record that attempt `attempt` failed with the stage's own error and will be
        retried. Returns how many attempts of the stage failed so, each counted once
        however often this is called for it. Infrastructure faults are not recorded:
        Temporal retries them until the stage's deadline."""
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
                # `counted` stays in the event's data, which the stream's clients read.
                *stage_event(
                    stage, StageStatus.RETRYING, attempt=attempt, error=error, counted=True
                ),
            )
            if appended:
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
            events = await _store_files(session, generation_id, files)
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
                await complete_generation(session, generation)
            return True


_ARTIFACTS_AT = select(Artifact).where(
    Artifact.generation_id == bindparam("generation_id"),
    Artifact.path.in_(bindparam("paths", expanding=True)),
)


async def _store_files(
    session: AsyncSession, generation_id: uuid.UUID, files: Sequence[FileOut]
) -> list[tuple[str, EventType, dict[str, Any]]]:
    """Write each file as the generation's artifact at its path (a replayed call
    overwrites it with the same content); the `artifact` events to append."""
    paths = [f.path for f in files]
    found = await session.scalars(_ARTIFACTS_AT, {"generation_id": generation_id, "paths": paths})
    existing = {a.path: a for a in found}
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
    return events
