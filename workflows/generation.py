"""GenerationWorkflow: the four stages in order, with retries, cancellation, a
`progress` query and search attributes upserted on every transition."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    is_cancelled_exception,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities
    from genflow.contracts import (
        ApprovalDecision,
        CancelInput,
        FailureInput,
        GenerationInput,
        GenerationOutcome,
        GenerationRef,
        Progress,
        StageInput,
    )
    from genflow.domain import (
        APPROVE_UPDATE,
        PROGRESS_QUERY,
        REJECT_UPDATE,
        STAGE_DEFS,
        WORKFLOW_TYPE,
        StageName,
        Status,
        excerpt,
    )
    from workflows.activity_calls import STORE_OPTIONS, execute_stage
    from workflows.approval import ApprovalGate
    from workflows.notifications import notify
    from workflows.progress import ProgressTracker

_log = workflow.logger
# The patch that moved the start and completion writes into the first and last stages.
FOLDED_WRITES = "folded-start-complete"


@workflow.defn(name=WORKFLOW_TYPE)
class GenerationWorkflow:
    def __init__(self) -> None:
        self._tracker = ProgressTracker()
        self._progress = self._tracker.progress  # the snapshot the tracker keeps current
        self._approval = ApprovalGate(self._tracker)
        self._current: StageName | None = None

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> Progress:
        """The live snapshot: status, stage, percent and per-stage attempts."""
        return self._progress

    @workflow.run
    async def run(self, input: GenerationInput) -> GenerationOutcome:
        self._progress.generation_id = input.generation_id
        try:
            await self._within_deadline(self._pipeline(input), input.timeout_seconds)
            return GenerationOutcome(
                input.generation_id, Status.COMPLETED, self._progress.quality_score
            )
        except (ActivityError, ApplicationError, asyncio.CancelledError) as err:
            if is_cancelled_exception(err):
                await workflow.execute_activity_method(
                    StoreActivities.record_cancelled,
                    CancelInput(input.generation_id, workflow.cancellation_reason() or None),
                    summary="Record the cancel; skip the remaining stages",
                    **STORE_OPTIONS,
                )
                self._tracker.set_status(Status.CANCELLED, stage=self._current)
                _log.info("generation cancelled", extra={"stage": self._current})
                await notify(input, self._progress, "cancelled", stage=self._current)
                raise
            code, message = _failure(err)
            current = self._current
            await workflow.execute_activity_method(
                StoreActivities.fail_generation,
                FailureInput(input.generation_id, current, code, message),
                summary=f"Record the failure: {code}",
                **STORE_OPTIONS,
            )
            if current is not None:
                self._progress.stages[current].status = "failed"
            self._tracker.set_status(Status.FAILED, stage=current)
            _log.warning("generation failed: %s: %s", code, message, extra={"stage": current})
            await notify(
                input,
                self._progress,
                "failed",
                stage=current,
                error={"code": code, "message": message},
            )
            raise ApplicationError(message, type=code, non_retryable=True) from err

    async def _pipeline(self, input: GenerationInput) -> None:
        """Record the start, run the four stages (with the approval gate), complete.
        Since FOLDED_WRITES, the first stage records the start and the last one the
        completion (two activities and two upserts fewer); older histories replay the
        separate activities."""
        folded = workflow.patched(FOLDED_WRITES)
        if folded:
            self._tracker.set_status(Status.PROCESSING, stage=STAGE_DEFS[0].name, upsert_stage=True)
        else:
            await workflow.execute_activity_method(
                StoreActivities.start_generation,
                input,
                summary=f"Record the generation: {excerpt(input.title or input.prompt, 80)}",
                **STORE_OPTIONS,
            )
            self._tracker.set_status(Status.PROCESSING)
        _log.info("generation started")
        await notify(input, self._progress, "started")
        policy = input.policy
        for number, definition in enumerate(STAGE_DEFS, start=1):
            stage = definition.name
            self._current = stage
            first, last = number == 1, number == len(STAGE_DEFS)
            self._tracker.enter(stage, upsert=not (folded and first))
            stage_input = StageInput(
                input.generation_id,
                stage,
                policy.max_attempts,
                start=input if folded and first else None,
                complete=folded and last,
            )
            result = await execute_stage(definition, number, stage_input, policy)
            self._tracker.leave(stage, result, upsert=not folded)
            await notify(input, self._progress, "stage.completed", stage=stage)
            if stage == StageName.SCHEMA_EXTRACTION and input.require_approval:
                await self._approval.wait(input)
        self._current = None
        if not folded:
            await workflow.execute_activity_method(
                StoreActivities.complete_generation,
                GenerationRef(input.generation_id),
                summary="Mark the generation completed",
                **STORE_OPTIONS,
            )
        self._tracker.set_status(Status.COMPLETED)
        _log.info("generation completed, quality score %s", self._progress.quality_score)
        await notify(input, self._progress, "completed")

    async def _within_deadline(self, work: Awaitable[None], seconds: float | None) -> None:
        """Await `work`; past `seconds` (from now), cancel it (the running stage gets
        the cancel) and fail with `deadline_exceeded`. A workflow cancel reaches it."""
        task = asyncio.ensure_future(work)
        try:
            await workflow.wait([task], timeout=seconds)
        except asyncio.CancelledError:
            task.cancel()
            await workflow.wait([task])  # let the stage see its cancel first
            _settle(task)
            raise
        if not task.done():
            task.cancel()
            await workflow.wait([task])
            _settle(task)
            raise ApplicationError(
                f"the generation did not finish within its deadline of {seconds:g} s",
                type="deadline_exceeded",
                non_retryable=True,
            )
        task.result()  # the pipeline's own outcome (or error)

    @workflow.update(name=APPROVE_UPDATE)
    async def approve(self, decision: ApprovalDecision) -> str:
        """Continue a generation waiting for approval after schema extraction."""
        self._approval.decide(True, decision.reason)
        return "approved"

    @approve.validator
    def _approve_allowed(self, decision: ApprovalDecision) -> None:
        self._approval.require_waiting()

    @workflow.update(name=REJECT_UPDATE)
    async def reject(self, decision: ApprovalDecision) -> str:
        """End a generation waiting for approval; it fails with `rejected`."""
        self._approval.decide(False, decision.reason)
        return "rejected"

    @reject.validator
    def _reject_allowed(self, decision: ApprovalDecision) -> None:
        self._approval.require_waiting()


def _settle(task: asyncio.Future[None]) -> None:
    """Take a stopped pipeline's outcome: the error that ended it is superseded by the
    cancel or the deadline, and must not be logged as never retrieved."""
    if task.done() and not task.cancelled():
        task.exception()


def _failure(err: BaseException) -> tuple[str, str]:
    """An error code and message for the read model, from an activity failure."""
    if isinstance(err, ApplicationError):
        return err.type or "failed", err.message
    cause = err.cause if isinstance(err, ActivityError) else None
    while isinstance(cause, ActivityError):
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "stage_failed", cause.message
    if isinstance(cause, TemporalTimeoutError):
        kind = cause.type.name if cause.type else ""
        if kind == "SCHEDULE_TO_CLOSE":
            return "stage_timeout", "the stage did not finish before its deadline"
        return "stage_timeout", f"the stage timed out ({kind})"
    return "stage_failed", str(cause or err)
