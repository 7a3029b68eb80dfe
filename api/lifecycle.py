"""Changing a generation's course: cancel, approve, reject, delete."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from genflow.db.models import Generation
from genflow.db.repository import ActiveRow, GenerationRepository
from genflow.domain import (
    ACTIVE_STATUSES,
    APPROVE_UPDATE,
    REJECT_UPDATE,
    TERMINAL_STATUSES,
    Status,
    rejection_message,
)
from genflow.reconcile import Reconciler, describe_or_none
from genflow.settings import Settings

from .ownership import get_own, no_such_generation
from .problems import ProblemError
from .routers.common import present
from .schemas import GenerationOut
from .state import app_state
from .waiting import wait_for

log = logging.getLogger("genflow.api")

# After the workflow took an approve or reject, how long the answer waits for the read
# model to record where the generation went (one activity; normally milliseconds).
DECISION_WAIT_SECONDS = 10.0


class LifecycleService:
    def __init__(
        self, repository: GenerationRepository, temporal: Client, settings: Settings
    ) -> None:
        self._repository = repository
        self._temporal = temporal
        self._settings = settings

    def present(self, row: Generation) -> GenerationOut:
        return present(row, self._settings)

    async def cancel(
        self, user_id: str, generation_id: uuid.UUID, reason: str | None
    ) -> Generation:
        """Deliver the cancel to the workflow first (with the reason, which its cleanup
        records), then mark the row `cancelling`. If Temporal is unreachable, 503 and
        nothing changed."""
        row = await get_own(self._repository, generation_id, user_id)
        if row.status in TERMINAL_STATUSES:
            raise ProblemError(409, f"The generation is already {row.status}.")
        if not await self._cancel_workflow(row.workflow_id, reason):
            # Its workflow closed without telling the read model (an operator's
            # Terminate, a timeout): settle the row now instead of leaving it cancelling.
            await Reconciler(self._repository, self._temporal).settle(ActiveRow.of(row))
            settled = await get_own(self._repository, generation_id, user_id)
            raise ProblemError(409, f"The generation is already {settled.status}.")
        log.info("cancel requested: %s", reason or "-", extra={"generation_id": row.id})
        updated = await self._repository.request_cancel(generation_id, user_id, reason)
        if updated is None:
            raise no_such_generation()
        if updated.status in (Status.COMPLETED, Status.FAILED):
            raise ProblemError(409, f"The generation is already {updated.status}.")
        return await get_own(self._repository, generation_id, user_id)

    async def decide(
        self, user_id: str, generation_id: uuid.UUID, approve: bool, reason: str | None
    ) -> Generation:
        """Approve or reject a generation waiting after schema extraction, through a
        Temporal update that the workflow validates. The answer is the generation
        where the decision took it (`processing`, or `failed` with `rejected`), not
        the `awaiting_approval` it left."""
        row = await get_own(self._repository, generation_id, user_id)
        if row.status != Status.AWAITING_APPROVAL:
            raise ProblemError(409, f"The generation is {row.status}, not awaiting approval.")
        handle = self._temporal.get_workflow_handle(row.workflow_id)
        try:
            update = APPROVE_UPDATE if approve else REJECT_UPDATE
            outcome = await handle.execute_update(update, {"reason": reason})
            log.info("approval decision: %s", outcome, extra={"generation_id": row.id})
        except WorkflowUpdateFailedError as err:
            raise ProblemError(409, f"The workflow refused: {err.cause or err}.") from err
        except (RPCError, RuntimeError) as err:
            raise ProblemError(503, "The decision could not be delivered; try again.") from err
        moved = await wait_for(
            self._repository,
            generation_id,
            lambda status: status != Status.AWAITING_APPROVAL,
            DECISION_WAIT_SECONDS,
            self._settings.sse_poll_seconds,
        )
        decided = await get_own(self._repository, generation_id, user_id)
        if not moved and decided.status == Status.AWAITING_APPROVAL:
            # The workflow has the decision (the update completed) but its worker has
            # not recorded it yet: answer where the decision takes the generation. The
            # row is detached from its session, so this changes the answer only.
            if approve:
                decided.status = Status.PROCESSING
            else:
                decided.status = Status.FAILED
                decided.error_code = "rejected"
                decided.error_message = rejection_message(reason)
        return decided

    async def delete(self, user_id: str, generation_id: uuid.UUID) -> None:
        row = await get_own(self._repository, generation_id, user_id)
        if row.status in ACTIVE_STATUSES:
            await self._cancel_workflow(row.workflow_id, "deleted")
        await self._repository.delete(generation_id, user_id)
        log.info("generation deleted", extra={"generation_id": row.id})

    async def _cancel_workflow(self, workflow_id: str, reason: str | None) -> bool:
        """Deliver a cancel; False when the workflow has already closed (or is gone).
        (Temporal accepts a cancel of a closed workflow silently, so look first.)"""
        handle = self._temporal.get_workflow_handle(workflow_id)
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


async def get_lifecycle(request: Request) -> LifecycleService:
    state = app_state(request)
    return LifecycleService(state.repository, state.temporal, state.settings)


LifecycleDep = Annotated[LifecycleService, Depends(get_lifecycle)]
