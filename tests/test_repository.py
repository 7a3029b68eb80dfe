"""Read-model writes are idempotent on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from genflow.contracts import StagePolicy, WebhookTarget
from genflow.db.engine import make_session_maker
from genflow.db.listing import Cursor
from genflow.db.models import DeletedGeneration, StoredInput
from genflow.db.repository import GenerationRepository, NewGeneration
from genflow.domain import STAGES, StageName
from genflow.files import FileOut


@pytest.fixture
def repository(migrated_engine: AsyncEngine) -> GenerationRepository:
    return GenerationRepository(make_session_maker(migrated_engine))


def new(user: str = "repo-user", created_at: datetime | None = None) -> NewGeneration:
    generation_id = uuid.uuid4()
    return NewGeneration(
        id=generation_id,
        user_id=user,
        prompt="Book has title.",
        provider="builtin",
        created_at=created_at,
    )


async def test_insert_is_idempotent_even_when_racing(repository: GenerationRepository) -> None:
    generation = new()
    results = await asyncio.gather(*(repository.insert_generation(generation) for _ in range(5)))
    assert results.count(True) == 1
    assert await repository.insert_generation(generation) is False
    events = await repository.events_after(generation.id, 0)
    assert [(e.id, e.event, e.data) for e in events] == [(1, "status", {"status": "pending"})]
    row = await repository.get(generation.id)
    assert row is not None and len(row.stages) == 4


async def test_an_insert_keeps_what_it_must_and_nothing_else(
    migrated_engine: AsyncEngine, repository: GenerationRepository
) -> None:
    # A large request's stored input is dropped once the row holds it; an id its user
    # deleted (a tombstone) is not inserted again, by the API or by its workflow.
    stored = replace(new(), prompt="Book has title. " * 100, variables={"name": "shelf"})
    await repository.store_input(stored)
    assert await repository.insert_generation(stored) is True
    row = await repository.get(stored.id)
    assert row is not None and row.prompt == stored.prompt and row.variables == {"name": "shelf"}
    assert [s.name for s in sorted(row.stages, key=lambda s: s.position)] == list(STAGES)
    deleted = new()
    async with migrated_engine.begin() as connection:
        assert (
            await connection.scalar(
                select(func.count()).where(StoredInput.generation_id == stored.id)
            )
            == 0
        )
        await connection.execute(insert(DeletedGeneration).values(id=deleted.id))
    assert await repository.insert_generation(deleted) is False
    assert await repository.get(deleted.id) is None
    assert await repository.events_after(deleted.id, 0) == []


async def test_retried_stage_writes_never_duplicate(repository: GenerationRepository) -> None:
    generation = new()
    await repository.insert_generation(generation)
    await repository.mark_processing(generation.id)
    files = [FileOut("a.py", "source", b"x = 1\n"), FileOut("b.py", "source", b"y = 2\n")]
    for attempt in (1, 2):
        assert await repository.stage_started(generation.id, StageName.CODE_GENERATION, attempt)
        assert await repository.stage_completed(
            generation.id, StageName.CODE_GENERATION, attempt, files
        )
    assert await repository.stage_completed(generation.id, StageName.CODE_GENERATION, 2, files)

    row = await repository.get(generation.id)
    assert row is not None
    assert sorted(a.path for a in row.artifacts) == ["a.py", "b.py"]
    stage = next(s for s in row.stages if s.name == "code_generation")
    assert stage.status == "completed" and stage.attempts == 2
    events = await repository.events_after(generation.id, 0)
    keys = [
        (e.event, e.data.get("path"), e.data.get("status"), e.data.get("attempt")) for e in events
    ]
    assert len(keys) == len(set(keys))
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert sum(e.event == "artifact" for e in events) == 2


async def test_each_failed_attempt_counts_once(repository: GenerationRepository) -> None:
    generation = new()
    await repository.insert_generation(generation)
    await repository.mark_processing(generation.id)
    stage = StageName.CODE_GENERATION
    assert await repository.stage_started(generation.id, stage, 1)
    assert await repository.stage_retrying(generation.id, stage, 1, "boom") == 1
    assert await repository.stage_retrying(generation.id, stage, 1, "boom") == 1  # replayed
    assert await repository.stage_retrying(generation.id, stage, 2, "boom again") == 2
    events = await repository.events_after(generation.id, 0)
    retries = [e.data for e in events if e.data.get("status") == "retrying"]
    assert [(e["attempt"], e["counted"]) for e in retries] == [(1, True), (2, True)]


def test_a_new_generation_travels_in_its_workflow_input_unchanged() -> None:
    # Every field set, so that one the conversion missed would come back as its default.
    webhook = WebhookTarget("https://example.test/hook", ["generation.completed"], [1.0])
    sent = NewGeneration(
        id=uuid.uuid4(),
        user_id="travel-user",
        prompt="Book has title.",
        provider="fake",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        parent_id=uuid.uuid4(),
        root_id=uuid.uuid4(),
        iteration=2,
        retry_of=uuid.uuid4(),
        title="Books",
        project_id="shelf",
        template="crud",
        variables={"name": "shelf"},
        model="small",
        tags=["a"],
        metadata={"k": "v"},
        priority="batch",
        max_tokens=1000,
        require_approval=True,
        webhook=webhook,
        timeout_seconds=60.0,
    )
    defaults = NewGeneration(id=sent.id, user_id="", prompt="", provider="")
    unset = [f.name for f in fields(sent) if getattr(sent, f.name) == getattr(defaults, f.name)]
    assert unset == ["id"]
    input = sent.to_workflow_input(30.0, StagePolicy(max_attempts=2))
    assert input.generation_id == str(sent.id) and input.parent_id == str(sent.parent_id)
    assert input.created_at == "2026-01-02T03:04:05+00:00"
    assert input.approval_timeout_seconds == 30.0 and input.policy.max_attempts == 2
    assert NewGeneration.from_workflow_input(input) == sent


async def test_writes_after_the_end_are_refused(repository: GenerationRepository) -> None:
    generation = new()
    await repository.insert_generation(generation)
    await repository.mark_cancelled(generation.id, "stop")
    assert not await repository.stage_started(generation.id, StageName.CODE_REVIEW, 1)
    assert not await repository.stage_completed(
        generation.id, StageName.CODE_REVIEW, 1, [FileOut("late.py", "source", b"")]
    )
    await repository.complete(generation.id)
    row = await repository.get(generation.id)
    assert row is not None
    assert row.status == "cancelled" and row.cancel_reason == "stop" and row.artifacts == []


async def test_a_failure_names_the_stage_that_failed_and_never_a_completed_one(
    repository: GenerationRepository,
) -> None:
    async def stages_after(stage: StageName | None) -> list[str]:
        generation = new()
        await repository.insert_generation(generation)
        await repository.mark_processing(generation.id)
        await repository.stage_started(generation.id, StageName.SCHEMA_EXTRACTION, 1)
        await repository.stage_completed(generation.id, StageName.SCHEMA_EXTRACTION, 1)
        await repository.stage_started(generation.id, StageName.CODE_GENERATION, 1)
        await repository.fail(generation.id, stage, "terminated", "terminated in Temporal")
        row = await repository.get(generation.id)
        assert row is not None and row.status == "failed"
        return [s.status for s in sorted(row.stages, key=lambda s: s.position)]

    # The stage named, or (None: a reconciler, whose view may be older) the row's own.
    for stage in (StageName.CODE_GENERATION, None):
        assert await stages_after(stage) == ["completed", "failed", "skipped", "skipped"]
    # A stage that had completed (a rejection after schema extraction) stays completed.
    assert await stages_after(StageName.SCHEMA_EXTRACTION) == [
        "completed",
        "skipped",
        "skipped",
        "skipped",
    ]


async def test_keyset_pages_newest_first_without_gaps(repository: GenerationRepository) -> None:
    user = f"pager-{uuid.uuid4()}"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    made = [new(user, base + timedelta(seconds=i // 2)) for i in range(7)]  # ties on purpose
    for generation in made:
        await repository.insert_generation(generation)
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page, cursor = await repository.list_for_user(user, limit=3, cursor=cursor)
        seen += [row.id for row in page]
        if cursor is None:
            break
        cursor = Cursor.decode(cursor.encode())
    expected = sorted(made, key=lambda g: (g.created_at, g.id), reverse=True)
    assert seen == [g.id for g in expected]


def test_cursor_rejects_garbage() -> None:
    for token in [
        "",
        "abc",
        "bm90LWEtY3Vyc29y",
        Cursor(datetime.now(UTC), uuid.uuid4()).encode()[:-3],
    ]:
        with pytest.raises(ValueError):
            Cursor.decode(token)
