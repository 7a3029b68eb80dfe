"""Telling a running workflow to change course: a cancel, an approval decision. The
workflow is the one that acts; the read model learns of it from the workflow's own
activities, or from the reconciler when the workflow closed without telling it."""

from __future__ import annotations

import logging
import uuid

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from genflow.db.models import Generation
from genflow.db.repository import GenerationRepository
from genflow.domain import APPROVE_UPDATE, REJECT_UPDATE, Status, rejection_message
from genflow.reconcile import describe_or_none

from ..problems import ProblemError
from .waiting import wait_for

log = logging.getLogger("genflow.api")
# After the workflow took an approve or reject, how long the answer waits for the read
# model to record where the generation went (one activity; normally milliseconds).
DECISION_WAIT_SECONDS = 10.0


async def deliver_cancel(temporal: Client, workflow_id: str, reason: str | None) -> bool:
    """Deliver a cancel; False when the workflow has already closed (or is gone).
    Temporal accepts a cancel of a closed workflow silently, so look first."""
    handle = temporal.get_workflow_handle(workflow_id)
    unavailable = ProblemError(503, "The cancel could not be delivered; try again.")
    try:
        description = await describe_or_none(handle)
        if description is None or description.status != WorkflowExecutionStatus.RUNNING:
            return False
        await handle.cancel(reason=reason or "")
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # gone between the two calls
            return False
        raise unavailable from err
    except RuntimeError as err:  # Temporal unreachable
        raise unavailable from err
    return True


async def deliver_decision(
    temporal: Client, row: Generation, approve: bool, reason: str | None
) -> None:
    """Approve or reject through a Temporal update that the workflow validates: 409 when
    it refuses (it is no longer waiting), 503 when Temporal cannot be reached."""
    handle = temporal.get_workflow_handle(row.workflow_id)
    try:
        update = APPROVE_UPDATE if approve else REJECT_UPDATE
        outcome = await handle.execute_update(update, {"reason": reason})
        log.info("approval decision: %s", outcome, extra={"generation_id": row.id})
    except WorkflowUpdateFailedError as err:
        raise ProblemError(409, f"The workflow refused: {err.cause or err}.") from err
    except (RPCError, RuntimeError) as err:
        raise ProblemError(503, "The decision could not be delivered; try again.") from err


def as_decided(row: Generation, approve: bool, reason: str | None) -> Generation:
    """The generation where a decision the workflow has taken moves it, for an answer
    given before its worker has recorded the move. The row is detached from its session,
    so this changes the answer only."""
    if approve:
        row.status = Status.PROCESSING
    else:
        row.status = Status.FAILED
        row.error_code = "rejected"
        row.error_message = rejection_message(reason)
    return row


async def recorded(
    repository: GenerationRepository, generation_id: uuid.UUID, poll_seconds: float
) -> bool:
    """Whether the read model recorded, within DECISION_WAIT_SECONDS, that the generation
    left `awaiting_approval` after a decision the workflow took."""
    return await wait_for(
        repository,
        generation_id,
        lambda status: status != Status.AWAITING_APPROVAL,
        DECISION_WAIT_SECONDS,
        poll_seconds,
    )
