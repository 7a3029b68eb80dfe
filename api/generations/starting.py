"""Starting a generation's workflow and inserting its row, once per Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from genflow import search_attributes as sa
from genflow.contracts import GenerationInput, StagePolicy
from genflow.db.models import Generation, IdempotencyKey, utcnow
from genflow.db.repository import GenerationRepository, NewGeneration, new_generation_row
from genflow.domain import WORKFLOW_TYPE, Status, excerpt, workflow_id_for
from genflow.fairness import task_priority
from genflow.reconcile import describe_or_none
from genflow.settings import Settings

from ..metrics import ApiMetrics
from ..problems import ProblemError
from ..ratelimit import CreateWindows
from .admission import Admission

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


# Request fields added after Idempotency-Keys were first stored: left out of the hash
# while unset, so a replay of an older request still matches its record.
ADDED_FIELDS = ("priority", "max_tokens")


def request_hash(kind: str, body: dict[str, Any]) -> str:
    body = {k: v for k, v in body.items() if not (k in ADDED_FIELDS and v is None)}
    canonical = json.dumps([kind, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Starter:
    """Starts a new generation (of a create, an iteration or a retry) exactly once per
    Idempotency-Key, within the caller's limits: its workflow first, then its row."""

    def __init__(
        self,
        repository: GenerationRepository,
        temporal: Client,
        settings: Settings,
        windows: CreateWindows,
        admission: Admission,
        metrics: ApiMetrics | None = None,
    ) -> None:
        self._repository = repository
        self._temporal = temporal
        self._settings = settings
        self._windows = windows
        self.admission = admission
        self._metrics = metrics

    async def start(
        self,
        new: NewGeneration,
        idempotency_key: str | None,
        fingerprint: str,
        check_webhook: bool = False,
    ) -> Generation:
        """Start the workflow first, then insert the row. `check_webhook`: where the
        webhook host resolves, once the caller is within limits (a retry's was checked
        when its first generation was created, and is again at each delivery).

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
        await self.admission.enforce_limits(new.user_id)
        if check_webhook and new.webhook is not None:
            await self.admission.check_webhook_address(new.webhook.url)
        if idempotency_key is not None and not taken_over:
            claimed = await self._repository.claim_idempotency_key(
                new.user_id, idempotency_key, fingerprint, new.id, self._ttl
            )
            if claimed is not None:  # a concurrent request claimed it first
                replayed = await self._replay(claimed, fingerprint)
                if replayed is not None:
                    return replayed
                new = replace(new, id=claimed.generation_id)
        new = replace(
            new,
            created_at=utcnow(),
            timeout_seconds=new.timeout_seconds or self._settings.generation_timeout_seconds,
        )
        await self._start_workflow(new)
        if self._metrics is not None:  # a replay of an earlier request created nothing
            self._metrics.generations_created.inc()
        context = {"generation_id": new.id}
        async with self._windows.creating(new.user_id) as created:
            try:
                inserted = await self._repository.insert_generation(new)
            except SQLAlchemyError:
                log.exception("insert failed; the workflow will insert the row", extra=context)
                self._windows.forget(new.user_id)
                return new_generation_row(new)
            if inserted:
                created(new.created_at or utcnow())
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
                WORKFLOW_TYPE,  # by name: the API does not import workflow code
                input,
                id=new.workflow_id,
                task_queue=self._settings.task_queue,
                priority=task_priority(self._settings, new.user_id, new.priority),
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
