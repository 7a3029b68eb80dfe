"""Use cases of the generation resource: the layer between endpoints and repository."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from genflow import search_attributes as sa
from genflow.db.models import Generation, utcnow
from genflow.db.repository import GenerationRepository, NewGeneration, new_generation_row
from genflow.domain import TERMINAL_STATUSES, Status, workflow_id_for
from genflow.settings import Settings
from workflows.generation import GenerationWorkflow
from workflows.types import GenerationInput

from .problems import ProblemError
from .schemas import GenerationCreate

log = logging.getLogger("genflow.api")


class GenerationService:
    def __init__(
        self, repository: GenerationRepository, temporal: Client, settings: Settings
    ) -> None:
        self._repository = repository
        self._temporal = temporal
        self._settings = settings

    async def create(self, user_id: str, body: GenerationCreate) -> Generation:
        """Start the workflow first, then insert the row.

        No orphans either way: if the start fails, nothing was inserted; if this
        process dies (or the insert fails) after the start, the workflow's first
        activity inserts the same row from its input, idempotently.
        """
        generation_id = uuid.uuid4()
        new = NewGeneration(
            id=generation_id,
            user_id=user_id,
            prompt=body.prompt,
            provider=body.provider,
            workflow_id=workflow_id_for(str(generation_id)),
            title=body.title,
            project_id=body.project_id,
            template=body.template,
            variables=body.variables,
            model=body.model,
            tags=body.tags,
            metadata=body.metadata,
            created_at=utcnow(),
        )
        await self._start_workflow(new)
        try:
            await self._repository.insert_generation(new)
        except SQLAlchemyError:
            log.exception("insert of %s failed; its workflow will insert it", generation_id)
            return new_generation_row(new)
        row = await self._repository.get_for_user(generation_id, user_id)
        return row if row is not None else new_generation_row(new)

    async def _start_workflow(self, new: NewGeneration) -> None:
        attributes: list[SearchAttributePair[Any]] = [
            SearchAttributePair(sa.GENERATION_STATUS, Status.PENDING.value),
            SearchAttributePair(sa.USER_ID, new.user_id),
        ]
        if new.project_id:
            attributes.append(SearchAttributePair(sa.PROJECT_ID, new.project_id))
        try:
            await self._temporal.start_workflow(
                GenerationWorkflow.run,
                GenerationInput(
                    generation_id=str(new.id),
                    user_id=new.user_id,
                    prompt=new.prompt,
                    provider=new.provider,
                    title=new.title,
                    project_id=new.project_id,
                    template=new.template,
                    variables=new.variables,
                    model=new.model,
                    tags=new.tags,
                    metadata=new.metadata,
                    created_at=new.created_at.isoformat() if new.created_at else None,
                ),
                id=new.workflow_id,
                task_queue=self._settings.task_queue,
                search_attributes=TypedSearchAttributes(attributes),
                memo={"title": new.title, "user_id": new.user_id, "project_id": new.project_id},
            )
        except (RPCError, RuntimeError) as err:  # RuntimeError: Temporal unreachable
            log.error("could not start workflow %s: %s", new.workflow_id, err)
            raise ProblemError(
                503, "The generation could not be started; nothing was created. Try again."
            ) from err

    async def cancel(
        self, user_id: str, generation_id: uuid.UUID, reason: str | None
    ) -> Generation:
        row = await self._repository.request_cancel(generation_id, user_id, reason)
        if row is None:
            raise ProblemError(404, "No such generation.")
        if row.status in TERMINAL_STATUSES:
            raise ProblemError(409, f"The generation is already {row.status}.")
        handle = self._temporal.get_workflow_handle(row.workflow_id)
        try:
            await handle.cancel(reason=reason or "")
        except RuntimeError as err:  # Temporal unreachable
            raise ProblemError(503, "The cancel could not be delivered; try again.") from err
        except RPCError as err:
            # A workflow that already closed records its own final status.
            if err.status != RPCStatusCode.NOT_FOUND:
                raise ProblemError(503, "The cancel could not be delivered; try again.") from err
            description = await handle.describe()
            log.info("cancel of closed workflow %s (%s)", row.workflow_id, description.status)
            if description.status == WorkflowExecutionStatus.RUNNING:
                raise ProblemError(503, "The cancel could not be delivered; try again.") from err
        refreshed = await self._repository.get_for_user(generation_id, user_id)
        if refreshed is None:
            raise ProblemError(404, "No such generation.")
        return refreshed
