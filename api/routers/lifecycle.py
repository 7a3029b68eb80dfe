"""Changing a generation's course: cancel, delete, approve, reject."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from ..deps import CurrentUser
from ..lifecycle import LifecycleDep
from ..schemas import CancelRequest, DecisionRequest, GenerationOut
from .common import problems

router = APIRouter(prefix="/v1/generations", tags=["generations"])


@router.delete(
    "/{generation_id}",
    status_code=204,
    summary="Delete a generation",
    responses=problems(404, 503),
)
async def delete_generation(
    generation_id: uuid.UUID, user: CurrentUser, lifecycle: LifecycleDep
) -> Response:
    """Cancels it first if active, then removes it with its stages, events and files."""
    await lifecycle.delete(user, generation_id)
    return Response(status_code=204)


@router.post(
    "/{generation_id}/cancel",
    status_code=202,
    summary="Cancel a generation",
    responses=problems(404, 409, 503),
)
async def cancel_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    lifecycle: LifecycleDep,
    body: CancelRequest | None = None,
) -> GenerationOut:
    """Ask the workflow to stop. The generation is `cancelling` until the running
    stage has stopped, then `cancelled` with the reason stored. Already finished: 409."""
    row = await lifecycle.cancel(user, generation_id, body.reason if body else None)
    return lifecycle.present(row)


@router.post(
    "/{generation_id}/approve",
    status_code=202,
    summary="Approve a generation waiting after schema extraction",
    responses=problems(404, 409, 503),
)
async def approve_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    lifecycle: LifecycleDep,
    body: DecisionRequest | None = None,
) -> GenerationOut:
    """The spec is `artifacts/spec.json`; approving continues with code generation.
    The answer is the generation after the workflow took the approval: `processing`
    (or further along), not `awaiting_approval`. Not awaiting approval: 409."""
    row = await lifecycle.decide(user, generation_id, True, body.reason if body else None)
    return lifecycle.present(row)


@router.post(
    "/{generation_id}/reject",
    status_code=202,
    summary="Reject a generation waiting after schema extraction",
    responses=problems(404, 409, 503),
)
async def reject_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    lifecycle: LifecycleDep,
    body: DecisionRequest | None = None,
) -> GenerationOut:
    """Ends it `failed` with `error.code = rejected` and the reason; the answer is the
    generation in that state. Not awaiting approval: 409."""
    row = await lifecycle.decide(user, generation_id, False, body.reason if body else None)
    return lifecycle.present(row)
