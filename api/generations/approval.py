"""The approval gate of a generation that waits after schema extraction: approve it or
reject it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ..deps import CurrentUser
from ..problems import problems
from .dependencies import ServiceDep
from .resource import GenerationOut
from .schemas import DecisionRequest

router = APIRouter(prefix="/v1/generations", tags=["generations"])


@router.post(
    "/{generation_id}/approve",
    status_code=202,
    summary="Approve a generation waiting after schema extraction",
    responses=problems(404, 409, 503),
)
async def approve_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    generations: ServiceDep,
    body: DecisionRequest | None = None,
) -> GenerationOut:
    """The spec is `artifacts/spec.json`; approving continues with code generation.
    The answer is the generation after the workflow took the approval: `processing`
    (or further along), not `awaiting_approval`. Not awaiting approval: 409."""
    row = await generations.decide(user, generation_id, True, body.reason if body else None)
    return generations.present(row)


@router.post(
    "/{generation_id}/reject",
    status_code=202,
    summary="Reject a generation waiting after schema extraction",
    responses=problems(404, 409, 503),
)
async def reject_generation(
    generation_id: uuid.UUID,
    user: CurrentUser,
    generations: ServiceDep,
    body: DecisionRequest | None = None,
) -> GenerationOut:
    """Ends it `failed` with `error.code = rejected` and the reason; the answer is the
    generation in that state. Not awaiting approval: 409."""
    row = await generations.decide(user, generation_id, False, body.reason if body else None)
    return generations.present(row)
