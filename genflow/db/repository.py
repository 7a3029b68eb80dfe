"""All SQL of the read model. Each public method is one transaction.

Writes are idempotent: events carry a `key` unique per generation, artifacts are
unique per path, and stage/status updates are plain overwrites, so an activity that
is retried or replayed never duplicates anything.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer, raiseload, selectinload

from genflow.db.listing import Cursor, ListFilters, filtered, page_after, split_page
from genflow.db.models import (
    Artifact,
    DeletedGeneration,
    Event,
    Generation,
    IdempotencyKey,
    Stage,
    StoredInput,
    utcnow,
)
from genflow.domain import (
    ACTIVE_STATUSES,
    STAGE_PROGRESS,
    STAGES,
    TERMINAL_STATUSES,
    EventType,
    StageName,
    StageStatus,
    Status,
    workflow_id_for,
)
from workflows.types import GenerationInput, StagePolicy, WebhookTarget


@dataclass(frozen=True)
class NewGeneration:
    """Everything needed to insert a generation row; also the workflow's input."""

    id: uuid.UUID
    user_id: str
    prompt: str
    provider: str
    workflow_id: str
    title: str | None = None
    project_id: str | None = None
    template: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    parent_id: uuid.UUID | None = None
    root_id: uuid.UUID | None = None
    iteration: int = 0
    require_approval: bool = False  # for the workflow only; not a column
    webhook: WebhookTarget | None = None  # for the workflow only; not a column
    timeout_seconds: float | None = None  # for the workflow only; not a column

    def to_workflow_input(
        self, approval_timeout_seconds: float, policy: StagePolicy | None = None
    ) -> GenerationInput:
        """The workflow's input: everything needed to insert this row again."""
        return GenerationInput(
            generation_id=str(self.id),
            user_id=self.user_id,
            prompt=self.prompt,
            provider=self.provider,
            title=self.title,
            project_id=self.project_id,
            template=self.template,
            variables=self.variables,
            model=self.model,
            tags=self.tags,
            metadata=self.metadata,
            created_at=self.created_at.isoformat() if self.created_at else None,
            parent_id=str(self.parent_id) if self.parent_id else None,
            root_id=str(self.root_id) if self.root_id else None,
            iteration=self.iteration,
            require_approval=self.require_approval,
            approval_timeout_seconds=approval_timeout_seconds,
            webhook=self.webhook,
            policy=policy or StagePolicy(),
            timeout_seconds=self.timeout_seconds,
        )

    @classmethod
    def from_workflow_input(cls, input: GenerationInput) -> NewGeneration:
        """The inverse of `to_workflow_input`."""
        return cls(
            id=uuid.UUID(input.generation_id),
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
            require_approval=input.require_approval,
            webhook=input.webhook,
            timeout_seconds=input.timeout_seconds,
        )


@dataclass(frozen=True)
class ActiveRow:
    id: uuid.UUID
    workflow_id: str
    status: str
    stage: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Generation) -> ActiveRow:
        return cls(row.id, row.workflow_id, row.status, row.stage, row.created_at)


@dataclass(frozen=True)
class FileOut:
    """A file produced by a stage, stored as an artifact."""

    path: str
    kind: str
    content: bytes
    media_type: str = "text/plain"


def dialect_of(session_maker: async_sessionmaker[AsyncSession]) -> str:
    bind = session_maker.kw["bind"]
    return str(bind.dialect.name)


def new_generation_row(new: NewGeneration) -> Generation:
    """The row of a generation that has not started yet (not added to any session)."""
    created_at = new.created_at or utcnow()
    return Generation(
        id=new.id,
        user_id=new.user_id,
        project_id=new.project_id,
        parent_id=new.parent_id,
        root_id=new.root_id,
        iteration=new.iteration,
        title=new.title,
        prompt=new.prompt,
        template=new.template,
        variables=new.variables,
        provider=new.provider,
        model=new.model,
        status=Status.PENDING,
        progress=0,
        tags=new.tags,
        meta=new.metadata,
        metrics={},
        workflow_id=new.workflow_id,
        last_event_id=0,
        run_epoch=0,
        created_at=created_at,
        updated_at=created_at,
        stages=[
            Stage(name=name, position=i, status=StageStatus.PENDING, attempts=0, failures=0)
            for i, name in enumerate(STAGES)
        ],
        artifacts=[],
    )


class GenerationRepository:
    """The read model's use cases, over a session maker built once per process."""

    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_maker
        self._dialect = dialect_of(session_maker)

    @property
    def session_maker(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    # -- creation ---------------------------------------------------------------

    async def insert_generation(self, new: NewGeneration) -> bool:
        """Insert the row, its stages and the first `status` event unless the row
        exists. Returns whether this call inserted it; safe to race with itself."""
        try:
            async with self._sessions.begin() as session:
                if await session.get(Generation, new.id) is not None:
                    return False
                if await session.get(DeletedGeneration, new.id) is not None:
                    return False  # deleted by its user before the workflow got here
                generation = new_generation_row(new)
                session.add(generation)
                await session.execute(
                    delete(StoredInput).where(StoredInput.generation_id == new.id)
                )
                await session.flush()
                await self._append(
                    session,
                    generation,
                    "status:pending",
                    EventType.STATUS,
                    {"status": Status.PENDING},
                )
        except IntegrityError:
            return False  # the other writer (API or workflow) inserted it first
        return True

    # -- reads ------------------------------------------------------------------

    async def store_input(self, new: NewGeneration) -> None:
        """Keep a large request's prompt, variables and metadata for its workflow
        (whose input then leaves them out); idempotent."""
        async with self._sessions.begin() as session:
            if await session.get(StoredInput, new.id) is None:
                session.add(
                    StoredInput(
                        generation_id=new.id,
                        prompt=new.prompt,
                        variables=new.variables,
                        meta=new.metadata,
                    )
                )

    async def with_stored_input(self, new: NewGeneration) -> NewGeneration:
        """`new` with the fields `store_input` kept (unchanged if none are kept)."""
        async with self._sessions() as session:
            stored = await session.get(StoredInput, new.id)
        if stored is None:
            return new
        return replace(new, prompt=stored.prompt, variables=stored.variables, metadata=stored.meta)

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(select(1))

    async def get_for_user(self, generation_id: uuid.UUID, user_id: str) -> Generation | None:
        """The user's generation with its stages and artifact list (no contents)."""
        return await self._load(Generation.id == generation_id, Generation.user_id == user_id)

    async def get(self, generation_id: uuid.UUID) -> Generation | None:
        return await self._load(Generation.id == generation_id)

    async def _load(self, *conditions: Any) -> Generation | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Generation)
                .where(*conditions)
                .options(
                    selectinload(Generation.stages),
                    selectinload(Generation.artifacts).options(defer(Artifact.content)),
                )
            )

    async def count_by_status(self) -> dict[str, int]:
        """How many generations (of every user) are in each status."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Generation.status, func.count()).group_by(Generation.status)
            )
            return {str(status): count for status, count in rows}

    async def list_for_user(
        self,
        user_id: str,
        filters: ListFilters | None = None,
        *,
        limit: int = 20,
        cursor: Cursor | None = None,
    ) -> tuple[list[Generation], Cursor | None]:
        """One page, newest first, and the cursor of the next page (None at the end)."""
        query = page_after(filtered(user_id, filters or ListFilters(), self._dialect), cursor)
        query = query.limit(limit + 1).options(
            raiseload(Generation.stages), raiseload(Generation.artifacts)
        )
        async with self._sessions() as session:
            rows = list((await session.scalars(query)).all())
        return split_page(rows, limit)

    async def stages_and_artifacts(
        self, generation_ids: Sequence[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, list[Any]], dict[uuid.UUID, list[Any]]]:
        """Stage rows and artifact metadata of many generations, as plain rows (for
        list pages: far cheaper than loading them as ORM objects)."""
        stages: dict[uuid.UUID, list[Any]] = {i: [] for i in generation_ids}
        artifacts: dict[uuid.UUID, list[Any]] = {i: [] for i in generation_ids}
        if not generation_ids:
            return stages, artifacts
        async with self._sessions() as session:
            for stage in await session.execute(
                select(
                    Stage.generation_id,
                    Stage.name,
                    Stage.status,
                    Stage.attempts,
                    Stage.started_at,
                    Stage.ended_at,
                    Stage.duration_ms,
                    Stage.error,
                    Stage.queued_at,
                    Stage.queue_ms,
                )
                .where(Stage.generation_id.in_(generation_ids))
                .order_by(Stage.position)
            ):
                stages[stage.generation_id].append(stage)
            for artifact in await session.execute(
                select(
                    Artifact.generation_id,
                    Artifact.id,
                    Artifact.path,
                    Artifact.kind,
                    Artifact.size_bytes,
                    Artifact.sha256,
                    Artifact.media_type,
                )
                .where(Artifact.generation_id.in_(generation_ids))
                .order_by(Artifact.path)
            ):
                artifacts[artifact.generation_id].append(artifact)
        return stages, artifacts

    async def events_after(
        self, generation_id: uuid.UUID, after: int, limit: int = 500
    ) -> list[Event]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Event)
                .where(Event.generation_id == generation_id, Event.id > after)
                .order_by(Event.id)
                .limit(limit)
            )
            return list(rows.all())

    async def read_files(
        self, generation_id: uuid.UUID, kinds: Iterable[str] | None = None
    ) -> list[FileOut]:
        query = select(Artifact).where(Artifact.generation_id == generation_id)
        if kinds is not None:
            query = query.where(Artifact.kind.in_(list(kinds)))
        async with self._sessions() as session:
            rows = await session.scalars(query.order_by(Artifact.path))
            return [FileOut(a.path, a.kind, a.content, a.media_type) for a in rows.all()]

    async def read_file(self, generation_id: uuid.UUID, path: str) -> FileOut | None:
        async with self._sessions() as session:
            artifact = await session.scalar(
                select(Artifact).where(
                    Artifact.generation_id == generation_id, Artifact.path == path
                )
            )
            if artifact is None:
                return None
            return FileOut(artifact.path, artifact.kind, artifact.content, artifact.media_type)

    async def artifact_paths(self, generation_id: uuid.UUID) -> list[str]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Artifact.path)
                .where(Artifact.generation_id == generation_id)
                .order_by(Artifact.path)
            )
            return list(rows.all())

    async def count_active(self, user_id: str) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Generation)
                .where(Generation.user_id == user_id, Generation.status.in_(ACTIVE_STATUSES))
            )
            return int(count or 0)

    async def active_page(
        self, created_before: datetime, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[ActiveRow]:
        """One keyset page of everyone's active generations created before
        `created_before`, oldest first (the partial index `ix_generations_active`)."""
        query = (
            select(
                Generation.id,
                Generation.workflow_id,
                Generation.status,
                Generation.stage,
                Generation.created_at,
            )
            .where(Generation.status.in_(ACTIVE_STATUSES), Generation.created_at < created_before)
            .order_by(Generation.created_at, Generation.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(Generation.created_at, Generation.id) > after)
        async with self._sessions() as session:
            return [ActiveRow(*row) for row in await session.execute(query)]

    async def created_since(self, user_id: str, since: datetime) -> tuple[int, datetime | None]:
        """How many generations the user created after `since`, and the oldest of them."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(func.count(), func.min(Generation.created_at)).where(
                        Generation.user_id == user_id, Generation.created_at > since
                    )
                )
            ).one()
            oldest = row[1]
            if isinstance(oldest, str):  # SQLite returns min() of a datetime as text
                oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
            return int(row[0]), oldest

    # -- changes made by the API ----------------------------------------------------

    async def update_fields(
        self, generation_id: uuid.UUID, user_id: str, changes: dict[str, Any]
    ) -> bool:
        """Apply `title`, `tags` and `metadata` changes. False if the user has no such row."""
        columns = {"title": "title", "tags": "tags", "metadata": "meta"}
        async with self._sessions.begin() as session:
            generation = await self._lock(session, generation_id)
            if generation is None or generation.user_id != user_id:
                return False
            for name, value in changes.items():
                setattr(generation, columns[name], value)
            generation.updated_at = utcnow()
            return True

    async def delete(self, generation_id: uuid.UUID, user_id: str) -> bool:
        """Delete the row with its stages, events and artifacts, and leave a tombstone
        so its workflow never inserts it again."""
        async with self._sessions.begin() as session:
            generation = await self._lock(session, generation_id)
            if generation is None or generation.user_id != user_id:
                return False
            if await session.get(DeletedGeneration, generation_id) is None:
                session.add(DeletedGeneration(id=generation_id))
            await session.delete(generation)
            return True

    async def get_idempotency_key(self, user_id: str, key: str) -> IdempotencyKey | None:
        async with self._sessions() as session:
            return await session.get(IdempotencyKey, (user_id, key))

    async def claim_idempotency_key(
        self, user_id: str, key: str, request_hash: str, generation_id: uuid.UUID, ttl: timedelta
    ) -> IdempotencyKey | None:
        """Record `key` for a new generation. Returns None when this call claimed it,
        else the existing record (an expired one is replaced)."""
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(IdempotencyKey, (user_id, key))
                if existing is not None and existing.created_at > utcnow() - ttl:
                    return existing
                if existing is not None:
                    await session.delete(existing)
                    await session.flush()
                session.add(
                    IdempotencyKey(
                        user_id=user_id,
                        key=key,
                        request_hash=request_hash,
                        generation_id=generation_id,
                        created_at=utcnow(),
                    )
                )
            return None
        except IntegrityError:
            async with self._sessions() as session:
                return await session.get(IdempotencyKey, (user_id, key))

    # -- pipeline transitions (written by activities) -----------------------------

    async def mark_processing(self, generation_id: uuid.UUID, run_id: str | None = None) -> bool:
        """pending -> processing. False if the generation is gone or already over. A
        new run of its workflow (an operator's Reset) reopens a generation that ended."""
        async with self._sessions.begin() as session:
            generation = await self._lock_for_new_work(session, generation_id, run_id, None)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return False
            if generation.status == Status.PENDING:
                generation.status = Status.PROCESSING
                generation.started_at = generation.started_at or utcnow()
                first = await self._stage(session, generation_id, STAGES[0])
                first.queued_at = first.queued_at or generation.started_at
            await self._append(
                session,
                generation,
                "status:processing",
                EventType.STATUS,
                {"status": Status.PROCESSING},
            )
            return True

    async def mark_awaiting_approval(
        self, generation_id: uuid.UUID, run_id: str | None = None
    ) -> None:
        # The next stage is not queued while the generation waits for a person.
        await self._set_status(
            generation_id, Status.AWAITING_APPROVAL, "status:awaiting_approval", False, run_id
        )

    async def mark_approved(self, generation_id: uuid.UUID, run_id: str | None = None) -> None:
        await self._set_status(generation_id, Status.PROCESSING, "status:approved", True, run_id)

    async def _set_status(
        self,
        generation_id: uuid.UUID,
        status: Status,
        key: str,
        queued: bool,
        run_id: str | None,
    ) -> None:
        """Move an active generation to `status` (a cancel in flight keeps `cancelling`)
        and mark its next pending stage queued or not."""
        async with self._sessions.begin() as session:
            generation = await self._lock_for_run(session, generation_id, run_id)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return
            if generation.status != Status.CANCELLING:
                generation.status = status
            pending = [
                row
                for row in await self._stages(session, generation_id)
                if row.status == StageStatus.PENDING
            ]
            if pending:
                following = min(pending, key=lambda row: row.position)
                following.queued_at = (following.queued_at or utcnow()) if queued else None
            await self._append(session, generation, key, EventType.STATUS, {"status": status})

    async def stage_started(
        self,
        generation_id: uuid.UUID,
        stage: StageName,
        attempt: int,
        queue_ms: int | None = None,
        run_id: str | None = None,
    ) -> bool:
        """Record attempt `attempt` of `stage` as running, after waiting `queue_ms` in
        the task queue. False if the generation has ended (cancelled meanwhile): the
        caller must not do the work. A new run of its workflow (an operator's Reset)
        reopens a generation that ended, from this stage on."""
        async with self._sessions.begin() as session:
            generation = await self._lock_for_new_work(session, generation_id, run_id, stage)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return False
            row = await self._stage(session, generation_id, stage)
            row.status = StageStatus.RUNNING
            row.attempts = max(row.attempts, attempt)
            row.error = None
            if queue_ms is not None:
                row.queue_ms = queue_ms
            if row.started_at is None:
                row.started_at = utcnow()
            generation.stage = stage
            await self._append(
                session,
                generation,
                f"stage:{stage}:running:{attempt}",
                EventType.STAGE,
                {"stage": stage, "status": StageStatus.RUNNING, "attempt": attempt},
            )
            return True

    async def stage_retrying(
        self,
        generation_id: uuid.UUID,
        stage: StageName,
        attempt: int,
        error: str,
        own_error: bool = True,
        run_id: str | None = None,
    ) -> int:
        """Record that attempt `attempt` failed and will be retried. Returns how many
        attempts ended in the stage's own error (`own_error`; an infrastructure fault
        is recorded but not counted), each attempt counted once."""
        async with self._sessions.begin() as session:
            generation = await self._lock_for_run(session, generation_id, run_id)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return 0
            row = await self._stage(session, generation_id, stage)
            row.status = StageStatus.RETRYING
            row.error = error
            appended = await self._append(
                session,
                generation,
                f"stage:{stage}:retrying:{attempt}",
                EventType.STAGE,
                {
                    "stage": stage,
                    "status": StageStatus.RETRYING,
                    "attempt": attempt,
                    "error": error,
                    "counted": own_error,
                },
            )
            if appended and own_error:
                row.failures = (row.failures or 0) + 1
            return row.failures or 0

    async def stage_completed(
        self,
        generation_id: uuid.UUID,
        stage: StageName,
        attempt: int,
        files: Sequence[FileOut] = (),
        quality_score: float | None = None,
        quality_report: dict[str, Any] | None = None,
        tokens: tuple[int, int] = (0, 0),
        run_id: str | None = None,
    ) -> bool:
        """Store the stage's files and mark it completed, in one transaction."""
        async with self._sessions.begin() as session:
            generation = await self._lock_for_run(session, generation_id, run_id)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return False
            existing = {
                a.path: a
                for a in await session.scalars(
                    select(Artifact).where(
                        Artifact.generation_id == generation_id,
                        Artifact.path.in_([f.path for f in files]),
                    )
                )
            }
            events: list[tuple[str, EventType, dict[str, Any]]] = []
            for file in files:
                digest = hashlib.sha256(file.content).hexdigest()
                artifact = existing.get(file.path)
                if artifact is None:
                    artifact = Artifact(generation_id=generation_id, path=file.path)
                    session.add(artifact)
                artifact.kind = file.kind
                artifact.content = file.content
                artifact.size_bytes = len(file.content)
                artifact.sha256 = digest
                artifact.media_type = file.media_type
                events.append(
                    (
                        f"artifact:{file.path}",
                        EventType.ARTIFACT,
                        {
                            "path": file.path,
                            "kind": file.kind,
                            "size_bytes": len(file.content),
                            "sha256": digest,
                        },
                    )
                )
            stages = {row.name: row for row in await self._stages(session, generation_id)}
            row = stages[stage]
            following = stages.get(STAGES[STAGES.index(stage) + 1]) if stage != STAGES[-1] else None
            if following is not None and following.status == StageStatus.PENDING:
                following.queued_at = following.queued_at or utcnow()
            if any(tokens) and row.status != StageStatus.COMPLETED:  # count a stage once
                metrics = dict(generation.metrics)
                metrics["tokens_in"] = int(metrics.get("tokens_in", 0)) + tokens[0]
                metrics["tokens_out"] = int(metrics.get("tokens_out", 0)) + tokens[1]
                generation.metrics = metrics
            now = utcnow()
            row.status = StageStatus.COMPLETED
            row.attempts = max(row.attempts, attempt)
            row.error = None
            row.ended_at = now
            row.duration_ms = _ms(row.started_at, now)
            setattr(generation, f"{stage}_ms", row.duration_ms)
            if quality_score is not None:
                generation.quality_score = quality_score
                generation.quality_report = quality_report
            generation.progress = max(generation.progress, STAGE_PROGRESS[stage])
            events.append(
                (
                    f"stage:{stage}:completed",
                    EventType.STAGE,
                    {
                        "stage": stage,
                        "status": StageStatus.COMPLETED,
                        "attempt": row.attempts,
                        "duration_ms": row.duration_ms,
                    },
                )
            )
            events.append(
                (
                    f"progress:{stage}",
                    EventType.PROGRESS,
                    {"progress": generation.progress, "stage": stage},
                )
            )
            await self._append_all(session, generation, events)
            return True

    async def complete(self, generation_id: uuid.UUID, run_id: str | None = None) -> None:
        async with self._sessions.begin() as session:
            generation = await self._lock_for_run(session, generation_id, run_id)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return
            generation.status = Status.COMPLETED
            generation.stage = None
            generation.progress = 100
            generation.completed_at = utcnow()
            generation.run_ms = _ms(generation.started_at, generation.completed_at)
            await self._finish(session, generation)

    async def fail(
        self,
        generation_id: uuid.UUID,
        stage: str | None,
        code: str,
        message: str,
        run_id: str | None = None,
    ) -> None:
        async with self._sessions.begin() as session:
            generation = await self._lock_for_run(session, generation_id, run_id)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return
            now = utcnow()
            for row in await self._stages(session, generation_id):
                if row.name == stage:
                    row.status = StageStatus.FAILED
                    row.error = message
                    row.ended_at = now
                    row.duration_ms = _ms(row.started_at, now)
                elif row.status != StageStatus.COMPLETED:
                    row.status = StageStatus.SKIPPED
            generation.status = Status.FAILED
            generation.error_code = code
            generation.error_message = message
            generation.completed_at = now
            if stage is not None:
                await self._append(
                    session,
                    generation,
                    f"stage:{stage}:failed",
                    EventType.STAGE,
                    {"stage": stage, "status": StageStatus.FAILED, "error": message},
                )
            await self._finish(session, generation)

    async def request_cancel(
        self, generation_id: uuid.UUID, user_id: str, reason: str | None
    ) -> Generation | None:
        """Mark an active generation `cancelling` with its reason. Returns the row
        (unchanged when it already ended) or None when the user has no such row."""
        async with self._sessions.begin() as session:
            generation = await self._lock(session, generation_id)
            if generation is None or generation.user_id != user_id:
                return None
            if generation.status in TERMINAL_STATUSES:
                return generation
            if generation.status != Status.CANCELLING:
                generation.status = Status.CANCELLING
                generation.cancel_reason = reason
                await self._append(
                    session,
                    generation,
                    "status:cancelling",
                    EventType.STATUS,
                    {"status": Status.CANCELLING, "reason": reason},
                )
            return generation

    async def mark_cancelled(
        self, generation_id: uuid.UUID, reason: str | None, run_id: str | None = None
    ) -> None:
        async with self._sessions.begin() as session:
            generation = await self._lock_for_run(session, generation_id, run_id)
            if generation is None or generation.status in TERMINAL_STATUSES:
                return
            now = utcnow()
            for row in await self._stages(session, generation_id):
                if row.status not in (StageStatus.COMPLETED, StageStatus.FAILED):
                    row.status = StageStatus.SKIPPED
                    if row.started_at is not None:
                        row.ended_at = now
                        row.duration_ms = _ms(row.started_at, now)
            generation.status = Status.CANCELLED
            generation.cancel_reason = generation.cancel_reason or reason
            generation.completed_at = now
            await self._finish(session, generation)

    # -- helpers ----------------------------------------------------------------

    async def _finish(self, session: AsyncSession, generation: Generation) -> None:
        error = (
            {"code": generation.error_code, "message": generation.error_message}
            if generation.error_code
            else None
        )
        await self._append(
            session,
            generation,
            f"status:{generation.status}",
            EventType.STATUS,
            {"status": generation.status},
        )
        await self._append(
            session,
            generation,
            "done",
            EventType.DONE,
            {
                "status": generation.status,
                "quality_score": generation.quality_score,
                "error": error,
            },
        )

    async def _lock_for_run(
        self, session: AsyncSession, generation_id: uuid.UUID, run_id: str | None
    ) -> Generation | None:
        """The row, locked, if `run_id` (None: not a workflow's write) may write it: a
        late write of an older run (one an operator's Reset replaced) is refused."""
        generation = await self._lock(session, generation_id)
        if generation is None or run_id is None or generation.run_id in (None, run_id):
            return generation
        return None

    async def _lock_for_new_work(
        self,
        session: AsyncSession,
        generation_id: uuid.UUID,
        run_id: str | None,
        stage: StageName | None,
    ) -> Generation | None:
        """The row, locked, for new work of `run_id` (the workflow's start, a stage's
        attempt). New work from another run means a newer run (a closed run starts
        nothing): the row follows it, and one that had ended is reopened at `stage`."""
        generation = await self._lock(session, generation_id)
        if generation is None or run_id is None or generation.run_id == run_id:
            return generation
        if generation.run_id is not None:
            generation.run_epoch += 1  # a new run: its events get keys of their own
            if generation.status in TERMINAL_STATUSES:
                await self._reopen(session, generation, stage)
        generation.run_id = run_id
        return generation

    async def _reopen(
        self, session: AsyncSession, generation: Generation, stage: StageName | None
    ) -> None:
        """Back to processing for a reset workflow: `stage` and the stages after it
        (all stages when None) will run again."""
        first = STAGES.index(stage) if stage is not None else 0
        for row in await self._stages(session, generation.id):
            if STAGES.index(StageName(row.name)) >= first:
                row.status = StageStatus.PENDING
                row.started_at = row.ended_at = row.duration_ms = row.error = None
                row.failures = 0
        generation.status = Status.PROCESSING
        generation.error_code = generation.error_message = None
        generation.completed_at = generation.run_ms = None
        generation.cancel_reason = None
        generation.stage = stage
        generation.progress = STAGE_PROGRESS[STAGES[first - 1]] if first > 0 else 0
        await self._append(
            session,
            generation,
            "status:processing",
            EventType.STATUS,
            {"status": Status.PROCESSING, "reason": "a new run of the workflow (reset)"},
        )

    @staticmethod
    async def _lock(session: AsyncSession, generation_id: uuid.UUID) -> Generation | None:
        # FOR UPDATE serializes writers of one generation on PostgreSQL; SQLite
        # transactions are already exclusive (BEGIN IMMEDIATE, see engine.py).
        return await session.scalar(
            select(Generation)
            .where(Generation.id == generation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    @staticmethod
    async def _stage(session: AsyncSession, generation_id: uuid.UUID, stage: str) -> Stage:
        row = await session.get(Stage, (generation_id, stage))
        if row is None:
            raise LookupError(f"generation {generation_id} has no stage {stage}")
        return row

    @staticmethod
    async def _stages(session: AsyncSession, generation_id: uuid.UUID) -> list[Stage]:
        rows = await session.scalars(select(Stage).where(Stage.generation_id == generation_id))
        return list(rows.all())

    @staticmethod
    async def _append(
        session: AsyncSession,
        generation: Generation,
        key: str,
        event: EventType,
        data: dict[str, Any],
    ) -> bool:
        """Append an event once: a second call with the same key does nothing (False)."""
        return bool(
            await GenerationRepository._append_all(session, generation, [(key, event, data)])
        )

    @staticmethod
    async def _append_all(
        session: AsyncSession,
        generation: Generation,
        events: Sequence[tuple[str, EventType, dict[str, Any]]],
    ) -> list[str]:
        """Append each (key, event, data) whose key is new for this generation, in
        order, with one query for the keys already there and one insert; returns the
        keys appended."""
        if not events:
            return []
        if generation.run_epoch:  # after a Reset, the new run's events are new events
            events = [(f"{key}#{generation.run_epoch}", e, d) for key, e, d in events]
        seen = set(
            await session.scalars(
                select(Event.key).where(
                    Event.generation_id == generation.id,
                    Event.key.in_([key for key, _, _ in events]),
                )
            )
        )
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for key, event, data in events:
            if key in seen:
                continue
            seen.add(key)
            generation.last_event_id += 1
            rows.append(
                {
                    "generation_id": generation.id,
                    "id": generation.last_event_id,
                    "key": key,
                    "event": str(event),
                    "data": data,
                    "created_at": now,
                }
            )
        if rows:
            generation.updated_at = now
            await session.execute(insert(Event), rows)
        return [str(row["key"]) for row in rows]


def _ms(start: datetime | None, end: datetime) -> int | None:
    return None if start is None else int((end - start).total_seconds() * 1000)
