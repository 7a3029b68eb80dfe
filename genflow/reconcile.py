"""The read model follows Temporal, whatever closed a workflow.

The workflow's own code records every end it sees (completed, failed, cancelled). An
operator's Terminate, a workflow timeout, or a workflow that is gone never run that
code; the reconciler finds those rows. It pages through the active rows only (a partial
index keeps the scan cheap at any table size), asks Temporal how each one's workflow
(its latest run) stands, and settles the rows whose workflow has closed, with the same
idempotent transitions the workflow uses, so the row gets its `done` event and leaves
`/active`. Each pass is an activity of the long-lived ReconcilerWorkflow
(`reconcile-<task queue>`, workflows/reconcile.py): durable itself, it catches up
after the API and every worker were down.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from genflow.db.models import utcnow
from genflow.db.repository import ActiveRow, GenerationRepository

log = logging.getLogger("genflow.reconcile")

PAGE = 200
# A row whose workflow Temporal does not know is settled only after this long: the
# API inserts a row after starting its workflow, so only a lost workflow ends here.
START_GRACE = timedelta(seconds=60)


@dataclass
class ReconcileReport:
    checked: int = 0
    settled: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.settled[outcome] = self.settled.get(outcome, 0) + 1


class Reconciler:
    def __init__(self, repository: GenerationRepository, temporal: Client) -> None:
        self._repository = repository
        self._temporal = temporal

    async def run(self, max_rows: int = 10_000, grace: timedelta = START_GRACE) -> ReconcileReport:
        """Check up to `max_rows` active rows, oldest first; settle the closed ones."""
        report = ReconcileReport()
        after: tuple[datetime, uuid.UUID] | None = None
        now = utcnow()
        while report.checked < max_rows:
            rows = await self._repository.active_page(now, after, PAGE)
            for row in rows:
                report.checked += 1
                outcome = await self.settle(row, now - row.created_at >= grace)
                if outcome is not None:
                    report.count(outcome)
            if len(rows) < PAGE:
                break
            after = (rows[-1].created_at, rows[-1].id)
        if report.settled:
            log.info("reconciled %d active row(s): %s", report.checked, report.settled)
        return report

    async def settle(self, row: ActiveRow, past_grace: bool = True) -> str | None:
        """Bring one active row in line with its workflow; the outcome, or None when
        the workflow still runs (or may still be starting)."""
        handle = self._temporal.get_workflow_handle(row.workflow_id)
        # Temporal unreachable raises: the pass fails and is retried.
        description = await describe_or_none(handle)
        if description is None:
            if not past_grace:
                return None  # may still be starting
            await self._repository.fail(
                row.id,
                None,
                "workflow_not_found",
                "Temporal has no workflow for this generation; it cannot finish.",
            )
            return "workflow_not_found"
        status = description.status
        if status in (None, WorkflowExecutionStatus.RUNNING):
            return None
        if status == WorkflowExecutionStatus.COMPLETED:
            await self._repository.complete(row.id)
            return "completed"
        if status == WorkflowExecutionStatus.CANCELED:
            await self._repository.mark_cancelled(row.id, None)
            return "cancelled"
        if status == WorkflowExecutionStatus.TERMINATED:
            reason = await _termination_reason(handle)
            message = f"terminated in Temporal: {reason}" if reason else "terminated in Temporal"
            await self._repository.fail(row.id, None, "terminated", message)
            return "terminated"
        if status == WorkflowExecutionStatus.TIMED_OUT:
            await self._repository.fail(
                row.id,
                None,
                "timed_out",
                "the workflow timed out (its run or execution timeout passed)",
            )
            return "timed_out"
        if status == WorkflowExecutionStatus.FAILED:
            code, message = await _failure(handle)
            await self._repository.fail(row.id, None, code, message)
            return "failed"
        return None  # CONTINUED_AS_NEW: describe() follows to the newest run next time


async def describe_or_none(
    handle: WorkflowHandle[Any, Any],
) -> WorkflowExecutionDescription | None:
    """The workflow's description (its latest run), or None if Temporal has no such
    workflow; any other RPC error is raised."""
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _termination_reason(handle: WorkflowHandle[object, object]) -> str:
    last = None
    async for event in handle.fetch_history_events():
        last = event
    if last is not None and last.HasField("workflow_execution_terminated_event_attributes"):
        return str(last.workflow_execution_terminated_event_attributes.reason)
    return ""


async def _failure(handle: WorkflowHandle[object, object]) -> tuple[str, str]:
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return cause.type or "failed", cause.message
        return "failed", str(cause or err)
    return "failed", "the workflow failed"
