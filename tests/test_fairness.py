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
from genflow.pipeline.review import SandboxLimits
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
