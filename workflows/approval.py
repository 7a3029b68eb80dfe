"""The approval gate: a generation that requires approval waits after schema extraction
for an approver's decision, which GenerationWorkflow's approve and reject updates bring."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities
    from genflow.contracts import GenerationInput, GenerationRef
    from genflow.domain import Status, rejection_message
    from workflows.activity_calls import STORE_OPTIONS
    from workflows.notifications import notify
    from workflows.progress import ProgressTracker

_log = workflow.logger


class ApprovalGate:
    def __init__(self, tracker: ProgressTracker) -> None:
        self._tracker = tracker
        self._decision: tuple[bool, str | None] | None = None

    def decide(self, approved: bool, reason: str | None) -> None:
        """Take the approver's decision; `wait` acts on it."""
        self._decision = (approved, reason)

    def require_waiting(self) -> None:
        """Refuse a decision unless the generation waits for one and has none yet."""
        status = self._tracker.progress.status
        if status != Status.AWAITING_APPROVAL or self._decision is not None:
            raise ValueError(f"the generation is {status}, not awaiting approval")

    async def wait(self, input: GenerationInput) -> None:
        """Record the wait, then continue on an approval; fail with `rejected` on a
        rejection, with `approval_timeout` when none comes in time."""
        ref = GenerationRef(input.generation_id)
        # A decision is taken from now on: the read model shows `awaiting_approval` as
        # soon as the activity below has written it, before this workflow's next task.
        # (Only the state the update validator reads; no command moves.)
        self._tracker.progress.status = Status.AWAITING_APPROVAL
        await workflow.execute_activity_method(
            StoreActivities.await_approval, ref, summary="Wait for approval", **STORE_OPTIONS
        )
        self._tracker.set_status(Status.AWAITING_APPROVAL)
        _log.info("waiting for approval of the extracted schema")
        # Replay-safe without a patch: a workflow started before this event existed
        # has it in no `webhook.events` of its input, so `notify` issues no command.
        await notify(input, self._tracker.progress, "awaiting_approval")
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
        self._tracker.set_status(Status.PROCESSING)
