"""Raw Temporal, the floor `bench/burst.py` compares genflow with: a workflow of four
no-op activities, an in-script worker on its own task queue, N workflows from C
concurrent starters, on the same dev server as the stack."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions


@activity.defn
async def noop_one() -> None:
    return None


@activity.defn
async def noop_two() -> None:
    return None


@activity.defn
async def noop_three() -> None:
    return None


@activity.defn
async def noop_four() -> None:
    return None


@workflow.defn
class NoopWorkflow:
    """Four no-op activities in order: what Temporal itself costs per generation."""

    @workflow.run
    async def run(self) -> None:
        for step in (noop_one, noop_two, noop_three, noop_four):
            await workflow.execute_activity(step, start_to_close_timeout=timedelta(seconds=30))


async def raw_temporal(address: str, n: int, c: int) -> tuple[float, float]:
    """N NoopWorkflows from C concurrent starters; (workflows/s, seconds)."""
    client = await Client.connect(address)
    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[NoopWorkflow],
        activities=[noop_one, noop_two, noop_three, noop_four],
        # The default sandbox, with this module (and what it imports) passed through.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("bench")
        ),
    )
    todo = list(range(n))
    handles = []

    async def starter() -> None:
        while todo:
            todo.pop()
            handles.append(
                await client.start_workflow(
                    NoopWorkflow.run, id=f"raw-{uuid.uuid4()}", task_queue=queue
                )
            )

    async with worker:
        started = time.perf_counter()
        await asyncio.gather(*(starter() for _ in range(c)))
        await asyncio.gather(*(h.result() for h in handles))
        seconds = time.perf_counter() - started
    return n / seconds, seconds
