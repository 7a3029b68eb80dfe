"""Read-model writes made on behalf of the workflow. Each is idempotent."""

from __future__ import annotations

import uuid

from temporalio import activity

from genflow.contracts import CancelInput, FailureInput, GenerationInput, GenerationRef
from genflow.db.repository import GenerationRepository


class StoreActivities:
    def __init__(self, repository: GenerationRepository) -> None:
        self._repository = repository

    @activity.defn(name="start_generation")
    async def start_generation(self, input: GenerationInput) -> bool:
        """Insert the row if the API did not (it may have died after starting the
        workflow), then mark the generation processing. False if it already ended."""
        generation_id = await self._repository.insert_from_workflow_input(input)
        return await self._repository.mark_processing(generation_id, _run_id())

    @activity.defn(name="await_approval")
    async def await_approval(self, input: GenerationRef) -> None:
        await self._repository.mark_awaiting_approval(uuid.UUID(input.generation_id), _run_id())

    @activity.defn(name="record_approved")
    async def record_approved(self, input: GenerationRef) -> None:
        await self._repository.mark_approved(uuid.UUID(input.generation_id), _run_id())

    @activity.defn(name="complete_generation")
    async def complete_generation(self, input: GenerationRef) -> None:
        await self._repository.complete(uuid.UUID(input.generation_id), _run_id())
        count_finished("completed")

    @activity.defn(name="fail_generation")
    async def fail_generation(self, input: FailureInput) -> None:
        await self._repository.fail(
            uuid.UUID(input.generation_id), input.stage, input.code, input.message, _run_id()
        )
        count_finished("failed")

    @activity.defn(name="record_cancelled")
    async def record_cancelled(self, input: CancelInput) -> None:
        await self._repository.mark_cancelled(
            uuid.UUID(input.generation_id), input.reason, _run_id()
        )
        count_finished("cancelled")


def _run_id() -> str:
    """The workflow run this activity belongs to (a Reset starts a new one)."""
    return activity.info().workflow_run_id or ""


def count_finished(status: str) -> None:
    counter = activity.metric_meter().create_counter(
        "genflow_generations_finished", "Generations by final status"
    )
    counter.add(1, {"status": status})
