"""Mocked activities for workflow tests and recorded histories: the real activity names
and input types, each stage's behaviour scripted, every call recorded. No database, no
API: GenerationWorkflow runs against these alone (tests/test_generation_workflow.py,
tests/record_histories.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from genflow.contracts import (
    CancelInput,
    FailureInput,
    GenerationInput,
    GenerationOutcome,
    GenerationRef,
    ReconcileInput,
    ReconcileOutcome,
    StageInput,
    StageResult,
    WebhookDelivery,
)
from genflow.domain import StageName, sandbox_task_queue, stage_def, workflow_id_for
from tests.support import LIBRARY
from workflows.generation import GenerationWorkflow
from workflows.reconcile import ReconcilerWorkflow
from workflows.webhook import WebhookDeliveryWorkflow

WORKFLOWS = [GenerationWorkflow, WebhookDeliveryWorkflow, ReconcilerWorkflow]
QUALITY_SCORE = 87.5  # what the mocked review scores every project


@dataclass
class StageScript:
    """How a mocked stage behaves.

    - `own_errors`: the first N attempts fail with the stage's own error. Like the real
      stage (activities/stages.py), the attempt that reaches `StageInput.max_attempts`
      ends the stage with a non-retryable `stage_failed`; earlier ones are retried.
    - `error_type`: every attempt raises a non-retryable ApplicationError of this type
      (what the real stages raise for bad input or invalid model output).
    - `hang`: heartbeat until cancelled (a long-running stage).
    - `silent_attempts`: the first N attempts stop heartbeating, like a killed or starved
      worker, until well past the heartbeat timeout (an infrastructure fault).
    """

    own_errors: int = 0
    error_type: str | None = None
    hang: bool = False
    silent_attempts: int = 0


@dataclass
class Call:
    name: str
    input: Any
    attempt: int
    task_queue: str


class MockActivities:
    """Every activity GenerationWorkflow calls, by name, recording what it received."""

    def __init__(self, script: Mapping[StageName, StageScript] | None = None) -> None:
        self.script = dict(script or {})
        self.calls: list[Call] = []
        self.running: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.cancelled: list[str] = []  # stages that saw their cancel

    def inputs(self, name: str) -> list[Any]:
        """What the activity `name` received, one entry per attempt."""
        return [call.input for call in self.calls if call.name == name]

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.start_generation,
            self.await_approval,
            self.record_approved,
            self.complete_generation,
            self.fail_generation,
            self.record_cancelled,
            self.extract_schema,
            self.generate_code,
            self.review_code,
            self.write_documentation,
            self.deliver_webhook,
            self.reconcile_read_model,
            self.unmocked,
        ]

    def _record(self, input: Any) -> None:
        info = activity.info()
        self.calls.append(Call(info.activity_type, input, info.attempt, info.task_queue))

    @activity.defn(name="start_generation")
    async def start_generation(self, input: GenerationInput) -> bool:
        self._record(input)
        return True

    @activity.defn(name="await_approval")
    async def await_approval(self, input: GenerationRef) -> None:
        self._record(input)

    @activity.defn(name="record_approved")
    async def record_approved(self, input: GenerationRef) -> None:
        self._record(input)

    @activity.defn(name="complete_generation")
    async def complete_generation(self, input: GenerationRef) -> None:
        self._record(input)

    @activity.defn(name="fail_generation")
    async def fail_generation(self, input: FailureInput) -> None:
        self._record(input)

    @activity.defn(name="record_cancelled")
    async def record_cancelled(self, input: CancelInput) -> None:
        self._record(input)

    @activity.defn(name="reconcile_read_model")
    async def reconcile_read_model(self, input: ReconcileInput) -> ReconcileOutcome:
        self._record(input)
        return ReconcileOutcome(checked=0, settled={})

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery: WebhookDelivery) -> str:
        self._record(delivery)
        return "delivered"

    @activity.defn(dynamic=True)
    async def unmocked(self, args: Sequence[RawValue]) -> None:
        """Any activity added to the workflow later: recorded, so a test that does not
        expect it fails on what it asserts instead of hanging on an unserved task."""
        converter = activity.payload_converter()
        self._record([converter.from_payload(arg.payload) for arg in args])

    @activity.defn(name=stage_def(StageName.SCHEMA_EXTRACTION).activity)
    async def extract_schema(self, input: StageInput) -> StageResult:
        return await self._stage(input)

    @activity.defn(name=stage_def(StageName.CODE_GENERATION).activity)
    async def generate_code(self, input: StageInput) -> StageResult:
        return await self._stage(input)

    @activity.defn(name=stage_def(StageName.CODE_REVIEW).activity)
    async def review_code(self, input: StageInput) -> StageResult:
        return await self._stage(input)

    @activity.defn(name=stage_def(StageName.DOCUMENTATION).activity)
    async def write_documentation(self, input: StageInput) -> StageResult:
        return await self._stage(input)

    async def _stage(self, input: StageInput) -> StageResult:
        self._record(input)
        stage = StageName(input.stage)
        script = self.script.get(stage, StageScript())
        attempt = activity.info().attempt
        self.running[stage].set()
        if attempt <= script.silent_attempts:
            timeout = activity.info().heartbeat_timeout or timedelta(seconds=1)
            await asyncio.sleep(3 * timeout.total_seconds())  # its result is refused
        if script.hang:
            try:
                while True:
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.cancelled.append(stage)
                raise
        if script.error_type is not None:
            raise ApplicationError(
                f"{stage}: {script.error_type} (scripted)",
                type=script.error_type,
                non_retryable=True,
            )
        if attempt <= script.own_errors:
            if attempt >= input.max_attempts:
                raise ApplicationError(
                    f"{stage} failed {attempt} time(s); last error: scripted",
                    type="stage_failed",
                    non_retryable=True,
                )
            raise RuntimeError(f"{stage}: the stage's own error, attempt {attempt} (scripted)")
        score = QUALITY_SCORE if stage == StageName.CODE_REVIEW else None
        return StageResult(stage=stage, attempt=attempt, files=1, quality_score=score)


@asynccontextmanager
async def mocked_worker(client: Client, mocks: MockActivities) -> AsyncIterator[str]:
    """Workers for the generation's task queue (a fresh one) and its sandbox queue,
    serving the real workflows and the mocked activities; yields the task queue."""
    task_queue = f"unit-{uuid.uuid4()}"
    async with AsyncExitStack() as stack:
        for queue, workflows in ((task_queue, WORKFLOWS), (sandbox_task_queue(task_queue), [])):
            worker = Worker(
                client,
                task_queue=queue,
                workflows=workflows,
                activities=mocks.activities(),
                # Heartbeats reach the server at once, and with them a cancel the stage.
                max_heartbeat_throttle_interval=timedelta(milliseconds=50),
                default_heartbeat_throttle_interval=timedelta(milliseconds=50),
            )
            await stack.enter_async_context(worker)
        yield task_queue


@asynccontextmanager
async def running(
    client: Client, mocks: MockActivities, input: GenerationInput | None = None
) -> AsyncIterator[WorkflowHandle[GenerationWorkflow, GenerationOutcome]]:
    """The generation workflow of `input` (default: `generation_input()`), started on a
    fresh task queue that mocked workers serve while the block runs."""
    async with mocked_worker(client, mocks) as queue:
        yield await start(client, queue, input or generation_input())


async def start(
    client: Client, task_queue: str, input: GenerationInput
) -> WorkflowHandle[GenerationWorkflow, GenerationOutcome]:
    return await client.start_workflow(
        GenerationWorkflow.run,
        input,
        id=workflow_id_for(input.generation_id),
        task_queue=task_queue,
    )


def generation_input(**fields: Any) -> GenerationInput:
    """A workflow input with a fresh generation id; `fields` override the defaults."""
    fields.setdefault("generation_id", str(uuid.uuid4()))
    fields.setdefault("user_id", "alice")
    fields.setdefault("prompt", LIBRARY)
    return GenerationInput(**fields)


async def failure_of(handle: WorkflowHandle[Any, Any]) -> BaseException:
    """The cause the workflow failed with (an ApplicationError, or CancelledError)."""
    try:
        await handle.result()
    except WorkflowFailureError as err:
        assert err.cause is not None
        return err.cause
    raise AssertionError("the workflow did not fail")
