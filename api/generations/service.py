"""The generation resource's use cases: start one (create, iterate, retry), change its
course (cancel, approve or reject, delete, edit), and read it (one, a page, its
statistics, events and files). A user sees only their own: another's answers 404."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from temporalio.client import Client

from genflow.db.listing import ListFilters
from genflow.db.models import Event, Generation, utcnow
from genflow.db.projects import ProjectRepository
from genflow.db.repository import ActiveRow, GenerationRepository
from genflow.db.start_options import StartOptions
from genflow.db.statistics import StatisticsRepository
from genflow.db.usage import UsageRepository
from genflow.domain import ACTIVE_STATUSES, TERMINAL_STATUSES, Status
from genflow.files import FileOut
from genflow.reconcile import Reconciler
from genflow.settings import Settings

from ..metrics import ApiMetrics
from ..ownership import get_own, get_own_project, no_such_generation
from ..problems import ProblemError
from ..ratelimit import CreateWindows
from ..schemas import clean_text
from . import inputs
from .admission import Admission
from .course import as_decided, deliver_cancel, deliver_decision, recorded
from .queries import Listed, ListQuery
from .resource import GenerationOut, present
from .schemas import GenerationCreate, IterationCreate
from .starting import Starter, request_hash
from .statistics import StatisticsOut, with_usage

if TYPE_CHECKING:
    from genflow.webhooks import Resolver

log = logging.getLogger("genflow.api")

# Statuses a retry starts again from: the generation did not complete.
RETRYABLE_STATUSES = frozenset({Status.FAILED, Status.CANCELLED})


class GenerationService:
    def __init__(
        self,
        repository: GenerationRepository,
        projects: ProjectRepository,
        temporal: Client,
        settings: Settings,
        windows: CreateWindows | None = None,
        resolver: Resolver | None = None,
        statistics: StatisticsRepository | None = None,
        metrics: ApiMetrics | None = None,
    ) -> None:
        """`windows`: the process's create windows (app state); a service of its own
        has its own. `resolver`: of webhook hosts (default: the process's)."""
        self._repository = repository
        self._projects = projects
        self._temporal = temporal
        self._settings = settings
        self._statistics = statistics or StatisticsRepository(repository.session_maker)
        self._windows = windows or CreateWindows()
        self._resolver = resolver
        self._metrics = metrics

    @cached_property
    def _starter(self) -> Starter:
        """What only a start needs, made when one first asks: the service is built per
        request, reads included."""
        admission = Admission(
            self._repository, self._projects, self._settings, self._windows, self._resolver
        )
        return Starter(
            self._repository,
            self._temporal,
            self._settings,
            self._windows,
            admission,
            self._metrics,
        )

    @property
    def _admission(self) -> Admission:
        return self._starter.admission

    # -- start: create, iterate, retry ---------------------------------------------

    async def create(
        self, user_id: str, body: GenerationCreate, idempotency_key: str | None = None
    ) -> Generation:
        if body.project_id is not None:
            await self._admission.require_project(user_id, body.project_id)
        webhook = self._admission.webhook_target(body.webhook_url, body.webhook_events)
        max_tokens = self._admission.spending(body.provider, body.model, body.max_tokens)
        new = inputs.created(user_id, body, webhook, max_tokens)
        fingerprint = request_hash("create", body.model_dump(mode="json"))
        return await self._starter.start(new, idempotency_key, fingerprint, check_webhook=True)

    async def iterate(
        self,
        user_id: str,
        parent_id: uuid.UUID,
        body: IterationCreate,
        idempotency_key: str | None = None,
    ) -> Generation:
        parent = await self.get(parent_id, user_id)
        if parent.status != Status.COMPLETED:
            raise ProblemError(
                409, f"Only a completed generation can be iterated; this one is {parent.status}."
            )
        webhook = self._admission.webhook_target(body.webhook_url, body.webhook_events)
        max_tokens = self._admission.spending(
            body.provider or parent.provider, body.model or parent.model, body.max_tokens
        )
        new = inputs.iterated(parent, body, webhook, max_tokens)
        fingerprint = request_hash(f"iterate:{parent_id}", body.model_dump(mode="json"))
        return await self._starter.start(new, idempotency_key, fingerprint, check_webhook=True)

    async def retry(
        self,
        user_id: str,
        generation_id: uuid.UUID,
        idempotency_key: str | None = None,
        priority: str | None = None,
    ) -> Generation:
        """A new generation, with its own id and workflow, from the same input as a
        failed or cancelled one (prompt, template, variables, provider, model, title,
        tags, metadata, project, parent, and the options it started with), linked to it
        by `retry_of`. Anything else: 409."""
        first = await self.get(generation_id, user_id)
        if first.status not in RETRYABLE_STATUSES:
            raise ProblemError(
                409,
                f"Only a failed or cancelled generation can be retried; this one is "
                f"{first.status}.",
            )
        options = StartOptions.from_stored(first.options)
        webhook = None
        if options.webhook_url is not None:
            webhook = self._admission.delivery_target(options.webhook_url, options.webhook_events)
        max_tokens = self._admission.spending(first.provider, first.model, options.max_tokens)
        new = inputs.retried(first, options, webhook, priority, max_tokens)
        asked = {"priority": priority} if priority is not None else {}
        return await self._starter.start(
            new, idempotency_key, request_hash(f"retry:{first.id}", asked)
        )

    # -- change course: cancel, decide, delete, edit -----------------------------------

    async def cancel(
        self, user_id: str, generation_id: uuid.UUID, reason: str | None
    ) -> Generation:
        """Deliver the cancel to the workflow first (with the reason, which its cleanup
        records), then mark the row `cancelling`. If Temporal is unreachable, 503 and
        nothing changed."""
        row = await self.get(generation_id, user_id)
        if row.status in TERMINAL_STATUSES:
            raise ProblemError(409, f"The generation is already {row.status}.")
        if not await deliver_cancel(self._temporal, row.workflow_id, reason):
            # Its workflow closed without telling the read model (an operator's
            # Terminate, a timeout): settle the row now instead of leaving it cancelling.
            await Reconciler(self._repository, self._temporal).settle(ActiveRow.of(row))
            settled = await self.get(generation_id, user_id)
            raise ProblemError(409, f"The generation is already {settled.status}.")
        log.info("cancel requested: %s", reason or "-", extra={"generation_id": row.id})
        updated = await self._repository.request_cancel(generation_id, user_id, reason)
        if updated is None:
            raise no_such_generation()
        if updated.status in (Status.COMPLETED, Status.FAILED):
            raise ProblemError(409, f"The generation is already {updated.status}.")
        return await self.get(generation_id, user_id)

    async def decide(
        self, user_id: str, generation_id: uuid.UUID, approve: bool, reason: str | None
    ) -> Generation:
        """Approve or reject a generation waiting after schema extraction. The answer
        is the generation where the decision took it (`processing`, or `failed` with
        `rejected`), not the `awaiting_approval` it left."""
        row = await self.get(generation_id, user_id)
        if row.status != Status.AWAITING_APPROVAL:
            raise ProblemError(409, f"The generation is {row.status}, not awaiting approval.")
        await deliver_decision(self._temporal, row, approve, reason)
        poll = self._settings.watch_poll_seconds
        moved = await recorded(self._repository, generation_id, poll)
        decided = await self.get(generation_id, user_id)
        if not moved and decided.status == Status.AWAITING_APPROVAL:
            return as_decided(decided, approve, reason)
        return decided

    async def delete(self, user_id: str, generation_id: uuid.UUID) -> None:
        """Cancels it first if active, then removes it with its stages, events and files."""
        row = await self.get(generation_id, user_id)
        if row.status in ACTIVE_STATUSES:
            await deliver_cancel(self._temporal, row.workflow_id, "deleted")
        await self._repository.delete(generation_id, user_id)
        log.info("generation deleted", extra={"generation_id": row.id})

    async def update(
        self, generation_id: uuid.UUID, user: str, changes: dict[str, Any]
    ) -> Generation:
        """Only `title`, `tags` and `metadata` change; null for a list or map is 422."""
        if changes.get("tags", []) is None or changes.get("metadata", {}) is None:
            raise ProblemError(422, "tags and metadata cannot be null; send [] or {}.")
        if not await self._repository.update_fields(generation_id, user, changes):
            raise no_such_generation()
        return await self.get(generation_id, user)

    # -- read ------------------------------------------------------------------------

    def present(self, row: Generation) -> GenerationOut:
        """The generation as clients see it, its `urls` under the public URL if one is set."""
        return present(row, self._settings)

    async def get(self, generation_id: uuid.UUID, user: str) -> Generation:
        """The user's generation, or 404."""
        return await get_own(self._repository, generation_id, user)

    async def get_plain(self, generation_id: uuid.UUID, user: str) -> tuple[Any, Any, Any]:
        """The user's generation with its stages and artifacts as plain rows (the
        cheapest read), or 404."""
        found = await self._repository.get_for_user_plain(generation_id, user)
        if found is None:
            raise no_such_generation()
        return found

    async def page(self, user: str, query: ListQuery, **narrow: Any) -> Listed:
        """One page of the user's generations matching `query`, narrowed further by
        `narrow` (ListFilters fields)."""
        filters = ListFilters(**{**query.filters.__dict__, **narrow})
        rows, next_cursor = await self._repository.list_for_user(
            user, filters, limit=query.limit, cursor=query.cursor
        )
        stages, artifacts = await self._repository.stages_and_artifacts([row.id for row in rows])
        return Listed(rows, stages, artifacts, next_cursor)

    async def project_page(self, project_id: uuid.UUID, user: str, query: ListQuery) -> Listed:
        await get_own_project(self._projects, project_id, user)
        return await self.page(user, query, project_id=str(project_id))

    async def statistics(self, user: str) -> StatisticsOut:
        """The counts, with each day's usage and today's quota beside them."""
        now = utcnow()
        stats = await self._statistics.for_user(user)
        out = StatisticsOut.model_validate(stats, from_attributes=True)
        usage = await UsageRepository(self._repository.session_maker).days(
            user, now - timedelta(days=len(out.daily)), now
        )
        return with_usage(out, usage, now, self._settings.daily_token_quota_per_user)

    async def events_after(
        self, generation_id: uuid.UUID, after: int, limit: int = 500
    ) -> list[Event]:
        """Events of a generation the caller owns (checked with `get` first)."""
        return await self._repository.events_after(generation_id, after, limit)

    async def file(self, generation_id: uuid.UUID, user: str, path: str) -> FileOut:
        """One file of the user's generation, or 404."""
        await self.get(generation_id, user)
        try:
            clean_text(path)
        except ValueError as err:
            raise ProblemError(404, "No such file in this generation.") from err
        file = await self._repository.read_file(generation_id, path)
        if file is None:
            raise ProblemError(404, f"No file {path!r} in this generation.")
        return file

    async def files(self, generation_id: uuid.UUID, user: str) -> AsyncIterator[FileOut]:
        """Every file of the user's generation, one at a time (404 before the first)."""
        await self.get(generation_id, user)
        paths = await self._repository.artifact_paths(generation_id)

        async def each() -> AsyncIterator[FileOut]:
            for path in paths:
                file = await self._repository.read_file(generation_id, path)
                if file is not None:
                    yield file

        return each()
