"""Users share the queues fairly: every task of a generation carries its user as
Temporal's fairness key (and its priority), and workers take only what they can run, so
a quiet user's generation is dispatched ahead of a heavy user's backlog. With fairness
switched off by its setting, the same backlog is served first in, first out."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from api.app import create_app
from genflow.domain import STAGE_DEFS
from genflow.fairness import task_priority, user_weight
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.settings import Settings
from tests.conftest import Stack, eventually, serve
from tests.scripted import ScriptedStages
from worker.assembly import build_worker

HEAVY_BACKLOG = 12


async def finishing_order(stack: Stack, fairness: bool, quiet_priority: str | None) -> list[str]:
    """Users in the order their generations completed: a heavy user's backlog is
    created while no worker serves the queue, then one quiet generation, then a worker
    with a slot or two of each kind starts."""
    settings = stack.settings.model_copy(
        update={
            "task_queue": f"fair-{uuid.uuid4()}",
            "fairness": fairness,
            "workflow_task_slots": 2,
            "activity_slots": 1,
            "sandbox_slots": 1,
        }
    )
    server, server_task, base_url = await serve(
        create_app(settings, engine=stack.engine, temporal=stack.temporal)
    )
    ids: dict[str, str] = {}
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

            async def create(user: str, **body: Any) -> None:
                body.setdefault("prompt", "Task has title (text, required).")
                response = await http.post("/v1/generations", json=body, headers=stack.auth(user))
                assert response.status_code == 202, response.text
                ids[response.json()["id"]] = user

            for _ in range(HEAVY_BACKLOG):
                await create("heavy-user")
            await create("quiet-user", **({"priority": quiet_priority} if quiet_priority else {}))
    finally:
        server.should_exit = True
        await server_task
    stages = ScriptedStages(stack.repository, SandboxLimits(), run_generated_code=False)
    worker = build_worker(stack.temporal, settings, stack.repository, stages)
    worker_task = asyncio.create_task(worker.run())
    try:

        async def all_completed() -> list[Any] | None:
            rows = [await stack.repository.get(uuid.UUID(key)) for key in ids]
            done = [row for row in rows if row is not None and row.status == "completed"]
            return done if len(done) == len(ids) else None

        rows = await eventually(all_completed, 120, what="the backlog to complete")
    finally:
        await worker.shutdown()
        await worker_task
    rows.sort(key=lambda row: row.completed_at)
    return [ids[str(row.id)] for row in rows]


@pytest.mark.postgresql_only
async def test_a_quiet_user_is_served_ahead_of_a_heavy_backlog_only_with_fairness(
    stack: Stack,
) -> None:
    fair = await finishing_order(stack, fairness=True, quiet_priority=None)
    fifo = await finishing_order(stack, fairness=False, quiet_priority=None)

    # Fair: the quiet user's one generation is among the first few to complete.
    assert fair.index("quiet-user") < 3, fair
    # First in, first out: it completes behind most of the earlier backlog (not
    # strictly last: the backlog's later stages interleave with its first ones).
    assert fifo.index("quiet-user") >= HEAVY_BACKLOG // 2, fifo


@pytest.mark.postgresql_only
async def test_a_higher_priority_is_served_first_even_without_fairness(stack: Stack) -> None:
    order = await finishing_order(stack, fairness=False, quiet_priority="interactive")

    assert order.index("quiet-user") < 3, order


async def test_every_task_of_a_generation_carries_its_users_priority_and_fairness_key(
    stack: Stack,
) -> None:
    created = await stack.create(user="weighted-user", priority="batch")
    assert created["priority"] == "batch"
    done = await stack.wait_until(
        created["id"], lambda g: g["status"] == "completed", user="weighted-user"
    )
    assert done["priority"] == "batch"

    history = await stack.temporal.get_workflow_handle(created["workflow_id"]).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.priority
    scheduled = [
        event.activity_task_scheduled_event_attributes
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    # The workflow's own priority, set by the API; the stages set it explicitly.
    assert (started.priority_key, started.fairness_key) == (5, "weighted-user")
    assert started.fairness_weight == 1.0
    stage_types = {stage.activity for stage in STAGE_DEFS}
    stages = [a for a in scheduled if a.activity_type.name in stage_types]
    assert {a.activity_type.name for a in stages} == stage_types
    for attributes in stages:
        assert attributes.priority.fairness_key == "weighted-user"
        assert attributes.priority.priority_key == 5


async def test_a_retry_keeps_the_priority_unless_its_body_changes_it(stack: Stack) -> None:
    created = await stack.create(priority="interactive", prompt="Nothing to read here.")
    await stack.wait_until(created["id"], lambda g: g["status"] == "failed")
    url = f"/v1/generations/{created['id']}/retry"

    kept = await stack.http.post(url, headers=stack.auth())
    changed = await stack.http.post(url, json={"priority": "batch"}, headers=stack.auth())
    refused = await stack.http.post(url, json={"priority": "urgent"}, headers=stack.auth())

    assert (kept.status_code, kept.json()["priority"]) == (202, "interactive")
    assert (changed.status_code, changed.json()["priority"]) == (202, "batch")
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


def test_a_users_weight_is_their_own_else_their_tiers_else_the_default() -> None:
    settings = Settings(
        fairness_default_weight=1.5,
        fairness_user_weights={"alice": 3.0},
        fairness_tier_weights={"pro": 4.0},
        fairness_user_tiers={"alice": "pro", "bob": "pro", "carol": "unknown"},
    )

    assert user_weight(settings, "alice") == 3.0
    assert user_weight(settings, "bob") == 4.0
    assert user_weight(settings, "carol") == 1.5
    assert user_weight(settings, "dave") == 1.5
    off = task_priority(settings.model_copy(update={"fairness": False}), "alice", "batch")
    assert (off.priority_key, off.fairness_key) == (5, None)
    long_id = "u" * 100
    assert len(task_priority(settings, long_id, None).fairness_key or "") <= 64
