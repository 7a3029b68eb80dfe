"""GenerationWorkflow: the four stages in order, with retries, cancellation, a
`progress` query and search attributes upserted on every transition."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    is_cancelled_exception,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeoutError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.stages import StageActivities
    from activities.store import StoreActivities
    from genflow import search_attributes as sa
    from genflow.contracts import (
        ApprovalDecision,
        CancelInput,
        FailureInput,
        GenerationInput,
        GenerationOutcome,
        GenerationRef,
        Progress,
        StageInput,
        StageProgress,
        StageResult,
        WebhookDelivery,
    )
    from genflow.domain import (
        APPROVE_UPDATE,
        PROGRESS_QUERY,
        REJECT_UPDATE,
        STAGE_PROGRESS,
        STAGE_START_TO_CLOSE_SECONDS,
        STAGES,
        WORKFLOW_TYPE,
        StageName,
        Status,
        excerpt,
        rejection_message,
        sandbox_task_queue,
    )
    from workflows.webhook import WebhookDeliveryWorkflow

_log = workflow.logger
# The patch that moved the start and completion writes into the first and last stages.
FOLDED_WRITES = "folded-start-complete"
STAGE_SUMMARIES = {
    StageName.SCHEMA_EXTRACTION: "extract the project spec from the requirements",
    StageName.CODE_GENERATION: "generate the project's files",
    StageName.CODE_REVIEW: "review: syntax, lint and the project's own tests",
    StageName.DOCUMENTATION: "write the documentation",
}
STAGE_ACTIVITIES = {
    StageName.SCHEMA_EXTRACTION: StageActivities.extract_schema,
    StageName.CODE_GENERATION: StageActivities.generate_code,
    StageName.CODE_REVIEW: StageActivities.review_code,
    StageName.DOCUMENTATION: StageActivities.write_documentation,
}

# Stages that run generated code go to the sandbox task queue, whose workers take a
# bounded number at once; the rest wait there, with no schedule-to-start timeout.
SANDBOXED_STAGES = frozenset({StageName.CODE_REVIEW})
# Stage retries back off 1 s, 2 s, 4 s, ... up to 30 s, with no attempt limit here:
# infrastructure faults (a worker killed or starved) are retried until the stage's
# deadline (schedule-to-close, from the input's policy); the stage activity itself
# ends its own errors as non-retryable after `StagePolicy.max_attempts`.
STAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
# The longest one attempt of each stage may run by Temporal's clock.
STAGE_TIMEOUT = {
    stage: timedelta(seconds=seconds) for stage, seconds in STAGE_START_TO_CLOSE_SECONDS.items()
}
STORE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
    ),
}


@workflow.defn(name=WORKFLOW_TYPE)
class GenerationWorkflow:
    def __init__(self) -> None:
        self._progress = Progress(
            generation_id="",
            status=Status.PENDING,
            stage=None,
            percent=0,
            stages={stage: StageProgress() for stage in STAGES},
        )
        self._decision: tuple[bool, str | None] | None = None
        self._current: StageName | None = None
        # Search attribute updates held back to go out with the next upsert.
        self._pending_updates: list[SearchAttributeUpdate[Any]] = []

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
                self._set_status(Status.CANCELLED, stage=self._current)
                _log.info("generation cancelled", extra={"stage": self._current})
                await self._notify(input, "cancelled", stage=self._current)
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
            self._set_status(Status.FAILED, stage=current)
            _log.warning("generation failed: %s: %s", code, message, extra={"stage": current})
            await self._notify(
                input, "failed", stage=current, error={"code": code, "message": message}
            )
            raise ApplicationError(message, type=code, non_retryable=True) from err

    async def _pipeline(self, input: GenerationInput) -> None:
        """Record the start, run the four stages (with the approval gate), complete.
        Since FOLDED_WRITES, the first stage records the start and the last one the
        completion (two activities and two upserts fewer); older histories replay the
        separate activities."""
        folded = workflow.patched(FOLDED_WRITES)
        if folded:
            self._set_status(Status.PROCESSING, stage=STAGES[0], upsert_stage=True)
        else:
            await workflow.execute_activity_method(
                StoreActivities.start_generation,
                input,
                summary=f"Record the generation: {excerpt(input.title or input.prompt, 80)}",
                **STORE_OPTIONS,
            )
            self._set_status(Status.PROCESSING)
        _log.info("generation started")
        await self._notify(input, "started")
        policy = input.policy
        for number, stage in enumerate(STAGES, start=1):
            self._current = stage
            first, last = number == 1, number == len(STAGES)
            self._enter(stage, upsert=not (folded and first))
            queue = workflow.info().task_queue
            stage_input = StageInput(
                input.generation_id,
                stage,
                policy.max_attempts,
                start=input if folded and first else None,
                complete=folded and last,
            )
            result: StageResult = await workflow.execute_activity_method(
                STAGE_ACTIVITIES[stage],
                stage_input,
                task_queue=sandbox_task_queue(queue) if stage in SANDBOXED_STAGES else queue,
                schedule_to_close_timeout=timedelta(seconds=policy.deadline_seconds),
                start_to_close_timeout=STAGE_TIMEOUT[stage],
                heartbeat_timeout=timedelta(seconds=policy.heartbeat_timeout_seconds),
                retry_policy=STAGE_RETRY,
                priority=workflow.info().priority,  # the user's fair share; see genflow/fairness.py
                summary=f"Stage {number} of {len(STAGES)}: {STAGE_SUMMARIES[stage]}",
            )
            self._leave(stage, result, upsert=not folded)
            await self._notify(input, "stage.completed", stage=stage)
            if stage == StageName.SCHEMA_EXTRACTION and input.require_approval:
                await self._await_approval(input)
        self._current = None
        if not folded:
            await workflow.execute_activity_method(
                StoreActivities.complete_generation,
                GenerationRef(input.generation_id),
                summary="Mark the generation completed",
                **STORE_OPTIONS,
            )
        self._set_status(Status.COMPLETED)
        _log.info("generation completed, quality score %s", self._progress.quality_score)
        await self._notify(input, "completed")

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
        self._decision = (True, decision.reason)
        return "approved"

    @approve.validator
    def _approve_allowed(self, decision: ApprovalDecision) -> None:
        self._require_waiting()

    @workflow.update(name=REJECT_UPDATE)
    async def reject(self, decision: ApprovalDecision) -> str:
        """End a generation waiting for approval; it fails with `rejected`."""
        self._decision = (False, decision.reason)
        return "rejected"

    @reject.validator
    def _reject_allowed(self, decision: ApprovalDecision) -> None:
        self._require_waiting()

    def _require_waiting(self) -> None:
        if self._progress.status != Status.AWAITING_APPROVAL or self._decision is not None:
            raise ValueError(f"the generation is {self._progress.status}, not awaiting approval")

    async def _await_approval(self, input: GenerationInput) -> None:
        ref = GenerationRef(input.generation_id)
        # A decision is taken from now on: the read model shows `awaiting_approval` as
        # soon as the activity below has written it, before this workflow's next task.
        # (Only the state the update validator reads; no command moves.)
        self._progress.status = Status.AWAITING_APPROVAL
        await workflow.execute_activity_method(
            StoreActivities.await_approval, ref, summary="Wait for approval", **STORE_OPTIONS
        )
        self._set_status(Status.AWAITING_APPROVAL)
        _log.info("waiting for approval of the extracted schema")
        # Replay-safe without a patch: a workflow started before this event existed
        # has it in no `webhook.events` of its input, so `_notify` issues no command.
        await self._notify(input, "awaiting_approval")
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timedelta(seconds=input.approval_timeout_seconds),
            )
        except TimeoutError as err:  # wait_condition's own timeout
            raise ApplicationError(
                f"no approval within {input.approval_timeout_seconds:g} s",
                type="approval_timeout",
                non_retryable=True,
            ) from err
        assert self._decision is not None
        approved, reason = self._decision
        if not approved:
            raise ApplicationError(rejection_message(reason), type="rejected", non_retryable=True)
        await workflow.execute_activity_method(
            StoreActivities.record_approved, ref, summary="Record the approval", **STORE_OPTIONS
        )
        _log.info("approved: %s", reason or "no reason given")
        self._set_status(Status.PROCESSING)

    async def _notify(
        self,
        input: GenerationInput,
        event: str,
        stage: str | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        """Start the delivery of `event` as an abandoned child workflow: its retries
        never block, delay or fail this generation."""
        target = input.webhook
        if target is None or event not in target.events:
            return
        message_id = f"msg_{input.generation_id}_{event}" + (f"_{stage}" if stage else "")
        payload = {
            "type": f"generation.{event}",
            "timestamp": workflow.now().isoformat(),
            "data": {
                "generation_id": input.generation_id,
                "status": self._progress.status,
                "stage": stage,
                "quality_score": self._progress.quality_score,
                "error": error,
            },
        }
        try:
            await workflow.start_child_workflow(
                WebhookDeliveryWorkflow.run,
                WebhookDelivery(
                    message_id, input.user_id, target.url, event, payload, target.schedule_seconds
                ),
                id=f"webhook-{message_id}",
                task_queue=workflow.info().task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"Webhook {event} of generation {input.generation_id}",
            )
        except Exception:  # a webhook must never fail the generation
            _log.exception("could not start webhook delivery %s", message_id)

    def _enter(self, stage: StageName, upsert: bool = True) -> None:
        self._progress.stage = stage
        self._progress.stages[stage].status = "running"
        if upsert:
            self._upsert(sa.GENERATION_STAGE.value_set(stage))
        self._describe()
        _log.info("stage started", extra={"stage": stage})

    def _leave(self, stage: StageName, result: StageResult, upsert: bool = True) -> None:
        """`upsert`: the score now; otherwise with the next upsert (since FOLDED_WRITES)."""
        entry = self._progress.stages[stage]
        entry.status = "completed"
        entry.attempts = result.attempt
        self._progress.percent = STAGE_PROGRESS[stage]
        if result.quality_score is not None:
            self._progress.quality_score = result.quality_score
            score = sa.QUALITY_SCORE.value_set(result.quality_score)
            if upsert:
                workflow.upsert_search_attributes([score])
            else:
                self._pending_updates.append(score)
        _log.info(
            "stage completed after %d attempt(s)",
            result.attempt,
            extra={"stage": stage, "attempt": result.attempt},
        )

    def _set_status(
        self, status: Status, stage: StageName | None = None, upsert_stage: bool = False
    ) -> None:
        """`stage`: where it is; upserted with `upsert_stage`, unset when None."""
        self._progress.status = status
        self._progress.stage = stage
        updates = [sa.GENERATION_STATUS.value_set(status)]
        if stage is None:
            updates.append(sa.GENERATION_STAGE.value_unset())
        elif upsert_stage:
            updates.append(sa.GENERATION_STAGE.value_set(stage))
        self._upsert(*updates)
        self._describe()

    def _upsert(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """One upsert command with `updates` and any held back for it."""
        workflow.upsert_search_attributes([*self._pending_updates, *updates])
        self._pending_updates.clear()

    def _describe(self) -> None:
        """The "current details" the Web UI shows on the workflow's page."""
        progress = self._progress
        lines = [f"**{progress.status}**, {progress.percent}% done"]
        if progress.stage is not None:
            lines.append(f"stage: {progress.stage}")
        if progress.quality_score is not None:
            lines.append(f"quality score: {progress.quality_score:g}")
        workflow.set_current_details("\n\n".join(lines))


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
