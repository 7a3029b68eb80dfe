"""Read-model writes made on behalf of the workflow. Each is idempotent."""

from __future__ import annotations

import uuid
from datetime import datetime

from temporalio import activity

from genflow.db.repository import GenerationRepository, NewGeneration
from genflow.domain import workflow_id_for
from workflows.types import CancelInput, FailureInput, GenerationInput, GenerationRef


class StoreActivities:
    def __init__(self, repository: GenerationRepository) -> None:
        self._repository = repository

    @activity.defn(name="start_generation")
    async def start_generation(self, input: GenerationInput) -> bool:
        """Insert the row if the API did not (it may have died after starting the
        workflow), then mark the generation processing. False if it already ended."""
        generation_id = uuid.UUID(input.generation_id)
        await self._repository.insert_generation(
            NewGeneration(
                id=generation_id,
                user_id=input.user_id,
                prompt=input.prompt,
                provider=input.provider,
                workflow_id=workflow_id_for(input.generation_id),
                title=input.title,
                project_id=input.project_id,
                template=input.template,
                variables=input.variables,
                model=input.model,
                tags=input.tags,
                metadata=input.metadata,
                created_at=datetime.fromisoformat(input.created_at) if input.created_at else None,
                parent_id=uuid.UUID(input.parent_id) if input.parent_id else None,
                root_id=uuid.UUID(input.root_id) if input.root_id else None,
                iteration=input.iteration,
            )
        )
        return await self._repository.mark_processing(generation_id)

    @activity.defn(name="await_approval")
    async def await_approval(self, input: GenerationRef) -> None:
        await self._repository.mark_awaiting_approval(uuid.UUID(input.generation_id))

    @activity.defn(name="record_approved")
    async def record_approved(self, input: GenerationRef) -> None:
        await self._repository.mark_approved(uuid.UUID(input.generation_id))

    @activity.defn(name="complete_generation")
    async def complete_generation(self, input: GenerationRef) -> None:
        await self._repository.complete(uuid.UUID(input.generation_id))
        _count_finished("completed")

    @activity.defn(name="fail_generation")
    async def fail_generation(self, input: FailureInput) -> None:
        await self._repository.fail(
            uuid.UUID(input.generation_id), input.stage, input.code, input.message
        )
        _count_finished("failed")

    @activity.defn(name="record_cancelled")
    async def record_cancelled(self, input: CancelInput) -> None:
        await self._repository.mark_cancelled(uuid.UUID(input.generation_id), input.reason)
        _count_finished("cancelled")


def _count_finished(status: str) -> None:
    counter = activity.metric_meter().create_counter(
        "genflow_generations_finished", "Generations by final status"
    )
    counter.add(1, {"status": status})
