"""Use cases of the generation resource: the layer between endpoints and repositories."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import uuid
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from genflow import search_attributes as sa
from genflow.db.models import Generation, IdempotencyKey, utcnow
from genflow.db.projects import ProjectRepository
from genflow.db.repository import (
    ActiveRow,
    GenerationRepository,
    NewGeneration,
    new_generation_row,
)
from genflow.domain import ACTIVE_STATUSES, TERMINAL_STATUSES, Status, excerpt, workflow_id_for
from genflow.reconcile import Reconciler, describe_or_none
from genflow.settings import Settings
from genflow.webhooks import EVENTS, RefusedAddress, check_url
from workflows.generation import GenerationWorkflow
from workflows.types import ApprovalDecision, GenerationInput, StagePolicy, WebhookTarget

from .problems import ProblemError
from .schemas import GenerationCreate, IterationCreate

log = logging.getLogger("genflow.api")

# A claimed Idempotency-Key whose generation has not appeared after this long belongs
# to a request that died; a retry with the same key finishes creating it.
STALE_CLAIM = timedelta(seconds=30)


# Workflow inputs above this go through the read model (Temporal refuses payloads over
# 256 KiB, and the input is stored twice in the history: the start and the first activity).
MAX_WORKFLOW_INPUT_BYTES = 64 * 1024


def _encoded_size(input: GenerationInput) -> int:
    """The input's size as JSON with every non-ASCII character escaped (the worst case
    of Temporal's JSON payload converter)."""
    return len(json.dumps(asdict(input), default=str))


def stage_policy(settings: Settings) -> StagePolicy:
    return StagePolicy(
        deadline_seconds=settings.stage_deadline_seconds,
        max_attempts=settings.stage_max_attempts,
        heartbeat_timeout_seconds=settings.stage_heartbeat_timeout_seconds,
    )


def request_hash(kind: str, body: dict[str, Any]) -> str:
    canonical = json.dumps([kind, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class GenerationService:
    def __init__(
        self,
        repository: GenerationRepository,
        projects: ProjectRepository,
        temporal: Client,
        settings: Settings,
    ) -> None:
        self._repository = repository
        self._projects = projects
        self._temporal = temporal
        self._settings = settings

    # -- create and iterate -------------------------------------------------------

    async def create(
        self, user_id: str, body: GenerationCreate, idempotency_key: str | None = None
    ) -> Generation:
        if body.project_id is not None:
            await self._require_project(user_id, body.project_id)
        webhook = await self._webhook_target(body)
        new = NewGeneration(
            id=uuid.uuid4(),
            user_id=user_id,
            prompt=body.prompt,
            provider=body.provider,
            workflow_id="",
            title=body.title,
            project_id=body.project_id,
            template=body.template,
            variables=body.variables,
            model=body.model,
            tags=body.tags,
            metadata=body.metadata,
            require_approval=body.require_approval,
            webhook=webhook,
            timeout_seconds=body.timeout_seconds or self._settings.generation_timeout_seconds,
        )
        fingerprint = request_hash("create", body.model_dump(mode="json"))
        return await self._create(new, idempotency_key, fingerprint)

    async def iterate(
        self,
        user_id: str,
        parent_id: uuid.UUID,
        body: IterationCreate,
        idempotency_key: str | None = None,
    ) -> Generation:
        parent = await self._repository.get_for_user(parent_id, user_id)
        if parent is None:
            raise ProblemError(404, "No such generation.")
        if parent.status != Status.COMPLETED:
            raise ProblemError(
                409, f"Only a completed generation can be iterated; this one is {parent.status}."
            )
        new = NewGeneration(
            id=uuid.uuid4(),
            user_id=user_id,
            prompt=body.prompt,
            provider=parent.provider,
            workflow_id="",
            title=body.title or parent.title,
            project_id=parent.project_id,
            template=body.template or parent.template,
            variables=body.variables if body.variables is not None else parent.variables,
            model=body.model or parent.model,
            tags=body.tags,
            metadata=body.metadata,
            parent_id=parent.id,
            root_id=parent.root_id or parent.id,
            iteration=parent.iteration + 1,
            timeout_seconds=body.timeout_seconds or self._settings.generation_timeout_seconds,
        )
        fingerprint = request_hash(f"iterate:{parent_id}", body.model_dump(mode="json"))
        return await self._create(new, idempotency_key, fingerprint)

    async def _create(
        self, new: NewGeneration, idempotency_key: str | None, fingerprint: str
    ) -> Generation:
        """Start the workflow first, then insert the row.

        No orphans either way: if the start fails, nothing was inserted; if this
        process dies (or the insert fails) after the start, the workflow's first
        activity inserts the same row from its input, idempotently.
        """
        taken_over = False
        if idempotency_key is not None:
            earlier = await self._repository.get_idempotency_key(new.user_id, idempotency_key)
            if earlier is not None and not self._expired(earlier):
                replayed = await self._replay(earlier, fingerprint)
                if replayed is not None:
                    return replayed
                new, taken_over = replace(new, id=earlier.generation_id), True
        await self._enforce_limits(new.user_id)
        if idempotency_key is not None and not taken_over:
            claimed = await self._repository.claim_idempotency_key(
                new.user_id, idempotency_key, fingerprint, new.id, self._ttl
            )
            if claimed is not None:  # a concurrent request claimed it first
                replayed = await self._replay(claimed, fingerprint)
                if replayed is not None:
                    return replayed
                new = replace(new, id=claimed.generation_id)
        new = replace(new, workflow_id=workflow_id_for(str(new.id)), created_at=utcnow())
        await self._start_workflow(new)
        context = {"generation_id": new.id}
        try:
            inserted = await self._repository.insert_generation(new)
        except SQLAlchemyError:
            log.exception("insert failed; the workflow will insert the row", extra=context)
            return new_generation_row(new)
        log.info("generation created for %s", new.user_id, extra=context)
        if inserted:
            return new_generation_row(new)  # as inserted; no need to read it back
        row = await self._repository.get_for_user(new.id, new.user_id)
        if row is None:
            raise ProblemError(409, "The generation created with this Idempotency-Key was deleted.")
        return row

    @property
    def _ttl(self) -> timedelta:
        return timedelta(hours=self._settings.idempotency_ttl_hours)

    def _expired(self, record: IdempotencyKey) -> bool:
        return record.created_at <= utcnow() - self._ttl

    async def _replay(self, record: IdempotencyKey, fingerprint: str) -> Generation | None:
        """The generation an earlier request with this key created; None when that
        request died before creating it and this one should finish the job."""
        if record.request_hash != fingerprint:
            raise ProblemError(
                422, "This Idempotency-Key was already used with a different request body."
            )
        row = await self._repository.get_for_user(record.generation_id, record.user_id)
        if row is not None:
            return row
        if await self._workflow_exists(workflow_id_for(str(record.generation_id))):
            return None  # it got as far as the start: finish the job (insert the row) now
        if utcnow() - record.created_at < STALE_CLAIM:
            raise ProblemError(
                409,
                "A request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"},
            )
        return None

    async def _workflow_exists(self, workflow_id: str) -> bool:
        """Whether Temporal has this workflow; an unreachable Temporal answers 503."""
        try:
            return (
                await describe_or_none(self._temporal.get_workflow_handle(workflow_id)) is not None
            )
        except (RPCError, RuntimeError) as err:
            raise ProblemError(
                503, "Temporal is unreachable; nothing was created. Try again."
            ) from err

    async def _enforce_limits(self, user_id: str) -> None:
        active = await self._repository.count_active(user_id)
        if active >= self._settings.max_active_per_user:
            raise ProblemError(
                429,
                f"You have {active} active generations; the limit is "
                f"{self._settings.max_active_per_user}.",
                headers={"Retry-After": "5"},
            )
        now = utcnow()
        created, oldest = await self._repository.created_since(user_id, now - timedelta(minutes=1))
        if created >= self._settings.max_creates_per_minute:
            wait = 60 - (now - oldest).total_seconds() if oldest else 60
            raise ProblemError(
                429,
                f"At most {self._settings.max_creates_per_minute} generations a minute.",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    async def _webhook_target(self, body: GenerationCreate) -> WebhookTarget | None:
        if body.webhook_url is None:
            if body.webhook_events is not None:
                raise self._invalid("webhook_events", "needs a webhook_url")
            return None
        try:
            await asyncio.to_thread(
                check_url, body.webhook_url, self._settings.webhook_allow_private
            )
        except RefusedAddress as err:
            raise self._invalid("webhook_url", str(err)) from err
        return WebhookTarget(
            url=body.webhook_url,
            events=list(body.webhook_events if body.webhook_events is not None else EVENTS),
            schedule_seconds=list(self._settings.webhook_retry_schedule_seconds),
        )

    @staticmethod
    def _invalid(field: str, message: str) -> ProblemError:
        return ProblemError(
            422,
            "The request is invalid.",
            errors=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
        )

    async def _require_project(self, user_id: str, project_id: str) -> None:
        try:
            found = await self._projects.get(uuid.UUID(project_id), user_id)
        except ValueError:
            found = None
        if found is None:
            raise self._invalid("project_id", "no such project")

    async def _start_workflow(self, new: NewGeneration) -> None:
        attributes: list[SearchAttributePair[Any]] = [
            SearchAttributePair(sa.GENERATION_STATUS, Status.PENDING.value),
            SearchAttributePair(sa.USER_ID, new.user_id),
        ]
        if new.project_id:
            attributes.append(SearchAttributePair(sa.PROJECT_ID, new.project_id))
        input = new.to_workflow_input(
            self._settings.approval_timeout_seconds, stage_policy(self._settings)
        )
        if _encoded_size(input) > MAX_WORKFLOW_INPUT_BYTES:
            # Too large for Temporal's payload limit: the big fields go through the
            # read model, written before the start (nothing is visible until the row).
            await self._repository.store_input(new)
            input = replace(
                input, prompt=excerpt(new.prompt, 500), variables={}, metadata={}, stored_input=True
            )
        try:
            await self._temporal.start_workflow(
                GenerationWorkflow.run,
                input,
                id=new.workflow_id,
                task_queue=self._settings.task_queue,
                search_attributes=TypedSearchAttributes(attributes),
                memo={"title": new.title, "user_id": new.user_id, "project_id": new.project_id},
                static_summary=new.title or excerpt(new.prompt, 200),
                static_details=f"Generation {new.id} of user {new.user_id}",
            )
        except WorkflowAlreadyStartedError:
            pass  # an earlier request with the same Idempotency-Key got this far
        except (RPCError, RuntimeError) as err:  # RuntimeError: Temporal unreachable
            log.error("could not start the workflow: %s", err, extra={"generation_id": new.id})
            raise ProblemError(
                503, "The generation could not be started; nothing was created. Try again."
            ) from err

    # -- cancel and delete ----------------------------------------------------------

    async def cancel(
        self, user_id: str, generation_id: uuid.UUID, reason: str | None
    ) -> Generation:
        """Deliver the cancel to the workflow first (with the reason, which its cleanup
        records), then mark the row `cancelling`. If Temporal is unreachable, 503 and
        nothing changed."""
        row = await self._repository.get_for_user(generation_id, user_id)
        if row is None:
            raise ProblemError(404, "No such generation.")
        if row.status in TERMINAL_STATUSES:
            raise ProblemError(409, f"The generation is already {row.status}.")
        if not await self._cancel_workflow(row.workflow_id, reason):
            # Its workflow closed without telling the read model (an operator's
            # Terminate, a timeout): settle the row now instead of leaving it cancelling.
            await Reconciler(self._repository, self._temporal).settle(ActiveRow.of(row))
            settled = await self._repository.get_for_user(generation_id, user_id)
            if settled is None:
                raise ProblemError(404, "No such generation.")
            raise ProblemError(409, f"The generation is already {settled.status}.")
        log.info("cancel requested: %s", reason or "-", extra={"generation_id": row.id})
        updated = await self._repository.request_cancel(generation_id, user_id, reason)
        if updated is None:
            raise ProblemError(404, "No such generation.")
        if updated.status in (Status.COMPLETED, Status.FAILED):
            raise ProblemError(409, f"The generation is already {updated.status}.")
        refreshed = await self._repository.get_for_user(generation_id, user_id)
        if refreshed is None:
            raise ProblemError(404, "No such generation.")
        return refreshed

    async def decide(
        self, user_id: str, generation_id: uuid.UUID, approve: bool, reason: str | None
    ) -> Generation:
        """Approve or reject a generation waiting after schema extraction, through a
        Temporal update that the workflow validates."""
        row = await self._repository.get_for_user(generation_id, user_id)
        if row is None:
            raise ProblemError(404, "No such generation.")
        if row.status != Status.AWAITING_APPROVAL:
            raise ProblemError(409, f"The generation is {row.status}, not awaiting approval.")
        handle = self._temporal.get_workflow_handle(row.workflow_id)
        decision = ApprovalDecision(reason)
        try:
            update = GenerationWorkflow.approve if approve else GenerationWorkflow.reject
            outcome = await handle.execute_update(update, decision)
            log.info("approval decision: %s", outcome, extra={"generation_id": row.id})
        except WorkflowUpdateFailedError as err:
            raise ProblemError(409, f"The workflow refused: {err.cause or err}.") from err
        except (RPCError, RuntimeError) as err:
            raise ProblemError(503, "The decision could not be delivered; try again.") from err
        refreshed = await self._repository.get_for_user(generation_id, user_id)
        if refreshed is None:
            raise ProblemError(404, "No such generation.")
        return refreshed

    async def delete(self, user_id: str, generation_id: uuid.UUID) -> None:
        row = await self._repository.get_for_user(generation_id, user_id)
        if row is None:
            raise ProblemError(404, "No such generation.")
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
