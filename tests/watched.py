"""A stack whose stage attempts are watched, for tests that interrupt a stage and must
know when its attempt has ended (after which it writes nothing more)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
from temporalio.client import WorkflowExecutionDescription

from activities.stages import StageWork
from api.app import create_app
from genflow.contracts import StageInput, StageResult
from genflow.db.repository import GenerationRepository
from genflow.domain import StageName
from genflow.pipeline.sandbox.limits import SandboxLimits
from tests.conftest import Stack, closed, eventually, serve
from tests.scripted import ScriptedStages
from worker.assembly import build_worker


class WatchedStages(ScriptedStages):
    """ScriptedStages that note each stage attempt's end, however it ended (done,
    failed or cancelled): after its end an attempt writes nothing more."""

    def __init__(self, repository: GenerationRepository) -> None:
        super().__init__(repository, SandboxLimits())
        self.ended: set[tuple[str, str]] = set()

    async def _run(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
        try:
            return await super()._run(input, stage, work)
        finally:
            self.ended.add((input.generation_id, str(stage)))

    async def quiet(
        self, stack: Stack, generation: dict[str, Any], stage: str
    ) -> WorkflowExecutionDescription:
        """The workflow's description once it has closed and its attempt of `stage` has
        ended: the definite signal that nothing of the generation writes any more."""
        description = await closed(stack.temporal.get_workflow_handle(generation["workflow_id"]))
        attempt = (generation["id"], stage)
        await eventually(lambda: attempt in self.ended, 30, what=f"{stage} to end")
        return description


@asynccontextmanager
async def watched(stack: Stack) -> AsyncIterator[tuple[Stack, WatchedStages]]:
    """The stack's read model and Temporal with, on a task queue of their own, an API
    and a worker whose stage attempts are watched: a test that interrupts a stage can
    wait for that attempt's end, the definite signal that it will write no more."""
    settings = stack.settings.model_copy(update={"task_queue": f"watched-{uuid.uuid4()}"})
    stages = WatchedStages(stack.repository)
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)
    server, server_task, base_url = await serve(app)
    try:
        async with (
            build_worker(stack.temporal, settings, stack.repository, stages),
            httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        ):
            yield replace(stack, settings=settings, http=http), stages
    finally:
        server.should_exit = True
        await server_task


async def running_stage(stack: Stack, generation_id: str) -> str:
    """The stage that runs, once one does."""
    found = await stack.wait_until(
        generation_id, lambda g: any(s["status"] == "running" for s in g["stages"])
    )
    return str(next(s["name"] for s in found["stages"] if s["status"] == "running"))
