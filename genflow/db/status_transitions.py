"""A generation's status changes, written by its workflow's activities and by its
user's cancel request: started, awaiting approval, approved, cancelling, and its end
(completed, failed or cancelled). Each method is one transaction; each is idempotent
(events by key, plain overwrites) and refuses a replaced run."""

from __future__ import annotations

import uuid

from genflow.db.base import SessionOwner
from genflow.db.events import append, finish_events, stage_event
from genflow.db.locks import lock, lock_active, lock_for_new_work
from genflow.db.models import Generation, utcnow
from genflow.db.transitions import (
    complete_generation,
    end_stages,
    stage_row,
    stage_rows,
    start_generation,
)
from genflow.domain import STAGES, TERMINAL_STATUSES, EventType, StageStatus, Status


class StatusTransitions(SessionOwner):
    async def mark_processing(self, generation_id: uuid.UUID, run_id: str | None = None) -> bool:
        """pending -> processing. False if the generation is gone or already over. A
        new run of its workflow (an operator's Reset) reopens a generation that ended."""
        async with self._sessions.begin() as session:
            generation = await lock_for_new_work(session, generation_id, run_id, None)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return False
            await start_generation(
                session, generation, await stage_row(session, generation_id, STAGES[0])
            )
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

    async def complete(self, generation_id: uuid.UUID, run_id: str | None = None) -> None:
        async with self._sessions.begin() as session:
            generation = await lock_active(session, generation_id, run_id)
            if generation is not None:
                await complete_generation(session, generation)

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
