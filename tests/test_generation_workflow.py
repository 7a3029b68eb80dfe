"""GenerationWorkflow's own logic on Temporal's time-skipping test server, with every
activity mocked by name (tests/workflow_mocks.py): a day-long approval timeout or a
stage's back-off takes milliseconds. The test server skips time only while no activity
runs or waits to be retried: a test skips a retry's back-off by hand, and a timer that
fires while a stage runs is a real second. Here too: cancels, in each stage and during the
approval wait, and how a stage's failure maps to the generation's error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from activities.stages import StageActivities
from genflow.contracts import (
    ApprovalDecision,
    CancelInput,
    FailureInput,
    GenerationOutcome,
    StagePolicy,
)
from genflow.domain import STAGE_DEFS, STAGES, StageName, sandbox_task_queue
from tests.support import eventually
from tests.workflow_mocks import (
    QUALITY_SCORE,
    MockActivities,
    StageScript,
    failure_of,
    generation_input,
    mocked_worker,
    running,
    start,
)
from workflows.generation import GenerationWorkflow

STAGE_TYPES = [stage.activity for stage in STAGE_DEFS]
# An activity's retries hold the automatic time skipping back: a test skips them by hand.
BACK_OFF = timedelta(minutes=5)


async def application_error(handle: WorkflowHandle[GenerationWorkflow, object]) -> ApplicationError:
    error = await failure_of(handle)
    assert isinstance(error, ApplicationError), repr(error)
    return error


async def workflow_time(handle: WorkflowHandle[GenerationWorkflow, object]) -> timedelta:
    """How long the closed workflow ran, in the test server's (skipped) time."""
    description = await handle.describe()
    assert description.close_time is not None
    return description.close_time - description.start_time


@asynccontextmanager
async def waiting_for_approval(
    env: WorkflowEnvironment, mocks: MockActivities
) -> AsyncIterator[WorkflowHandle[GenerationWorkflow, GenerationOutcome]]:
    """A generation that requires approval, once it waits for it."""
    input = generation_input(require_approval=True)
    async with running(env.client, mocks, input) as handle:

        async def waiting() -> bool:
            return (await handle.query(GenerationWorkflow.progress)).status == "awaiting_approval"

        await eventually(waiting, timeout=10, what="the approval wait")
        yield handle


def test_every_stage_has_one_row_naming_its_activity_method() -> None:
    # The workflow finds a stage's method by the row's activity name; the method must be
    # registered under that same name, or the worker would not serve what it schedules.
    assert sorted(STAGES) == sorted(StageName)
    for stage in STAGE_DEFS:
        method = getattr(StageActivities, stage.activity)
        assert activity._Definition.must_from_callable(method).name == stage.activity


async def test_runs_the_four_stages_in_order_and_completes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities()
    input = generation_input()
    async with mocked_worker(time_skipping_env.client, mocks) as queue:
        handle = await start(time_skipping_env.client, queue, input)
        outcome = await handle.result()
        progress = await handle.query(GenerationWorkflow.progress)

    assert (outcome.status, outcome.quality_score) == ("completed", QUALITY_SCORE)
    # The first stage records the start (with the input, to insert the row if the API
    # did not) and the last one the completion: no store activities of their own.
    assert mocks.names() == STAGE_TYPES
    first, *middle, last = (mocks.inputs(name)[0] for name in STAGE_TYPES)
    assert (first.start, first.complete) == (input, False)
    assert all((i.start, i.complete) == (None, False) for i in middle)
    assert (last.start, last.complete) == (None, True)
    queues = {call.name: call.task_queue for call in mocks.calls}
    assert queues["review_code"] == sandbox_task_queue(queue)
    assert queues["generate_code"] == queue
    assert (progress.status, progress.percent) == ("completed", 100)
    assert {stage: entry.attempts for stage, entry in progress.stages.items()} == dict.fromkeys(
        STAGES, 1
    )


async def test_approval_continues_after_schema_extraction(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities()
    async with waiting_for_approval(time_skipping_env, mocks) as handle:
        assert mocks.names() == ["extract_schema", "await_approval"]

        answer = await handle.execute_update(GenerationWorkflow.approve, ApprovalDecision("ok"))
        outcome = await handle.result()

    assert (answer, outcome.status) == ("approved", "completed")
    assert mocks.names() == [
        "extract_schema",
        "await_approval",
        "record_approved",
        *STAGE_TYPES[1:],
    ]


async def test_rejection_fails_the_generation_with_the_reason(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities()
    async with waiting_for_approval(time_skipping_env, mocks) as handle:
        answer = await handle.execute_update(
            GenerationWorkflow.reject, ApprovalDecision("wrong entities")
        )
        error = await application_error(handle)

    assert answer == "rejected"
    assert (error.type, error.message) == ("rejected", "rejected: wrong entities")
    [failure] = mocks.inputs("fail_generation")
    assert (failure.code, failure.message) == ("rejected", "rejected: wrong entities")
    assert not {"record_approved", "generate_code", "complete_generation"} & set(mocks.names())


async def test_an_approval_never_given_times_out_after_a_day(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities()
    input = generation_input(require_approval=True)
    async with running(time_skipping_env.client, mocks, input) as handle:
        error = await application_error(handle)
        took = await workflow_time(handle)

    assert error.type == "approval_timeout"
    assert timedelta(days=1) <= took < timedelta(days=1, minutes=1)
    [failure] = mocks.inputs("fail_generation")
    assert failure.code == "approval_timeout"
    assert "generate_code" not in mocks.names()


async def test_the_deadline_ends_a_generation_waiting_for_approval(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities()
    input = generation_input(require_approval=True, timeout_seconds=3600.0)
    async with running(time_skipping_env.client, mocks, input) as handle:
        error = await application_error(handle)
        took = await workflow_time(handle)

    assert error.type == "deadline_exceeded"
    assert timedelta(hours=1) <= took < timedelta(hours=1, minutes=1)
    [failure] = mocks.inputs("fail_generation")
    assert failure.code == "deadline_exceeded"


async def test_the_deadline_fails_the_generation_and_cancels_the_running_stage(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities({StageName.CODE_GENERATION: StageScript(hang=True)})
    # A running activity stops the clock from skipping: a deadline of a real second.
    input = generation_input(timeout_seconds=1.0)
    async with running(time_skipping_env.client, mocks, input) as handle:
        error = await application_error(handle)
        await eventually(lambda: mocks.cancelled, timeout=10, what="the stage's cancel")

    assert error.type == "deadline_exceeded"
    assert error.message == "the generation did not finish within its deadline of 1 s"
    assert mocks.cancelled == [StageName.CODE_GENERATION]
    [failure] = mocks.inputs("fail_generation")
    assert (failure.stage, failure.code) == (StageName.CODE_GENERATION, "deadline_exceeded")
    assert "review_code" not in mocks.names()


async def test_a_stage_failing_on_every_attempt_fails_at_its_attempt_limit(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities({StageName.CODE_GENERATION: StageScript(own_errors=99)})
    input = generation_input(policy=StagePolicy(max_attempts=4))
    async with running(time_skipping_env.client, mocks, input) as handle:
        await time_skipping_env.sleep(BACK_OFF)
        error = await application_error(handle)
        took = await workflow_time(handle)

    assert error.type == "stage_failed"
    stage_calls = [call for call in mocks.calls if call.name == "generate_code"]
    assert [call.attempt for call in stage_calls] == [1, 2, 3, 4]
    assert {call.input.max_attempts for call in stage_calls} == {4}
    assert took >= timedelta(seconds=1 + 2 + 4)  # the back-off between attempts
    [failure] = mocks.inputs("fail_generation")
    assert (failure.stage, failure.code) == (StageName.CODE_GENERATION, "stage_failed")
    assert "review_code" not in mocks.names()


async def test_a_stage_that_recovers_within_its_limit_completes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    mocks = MockActivities({StageName.CODE_REVIEW: StageScript(own_errors=2)})
    async with running(time_skipping_env.client, mocks, generation_input()) as handle:
        await time_skipping_env.sleep(BACK_OFF)
        outcome = await handle.result()
        progress = await handle.query(GenerationWorkflow.progress)

    assert outcome.status == "completed"
    assert progress.stages[StageName.CODE_REVIEW].attempts == 3
    assert mocks.inputs("fail_generation") == []


async def test_a_silent_worker_does_not_use_up_the_stages_attempts(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A heartbeat timeout (a killed or starved worker) is retried even when the stage
    allows a single attempt of its own."""
    mocks = MockActivities({StageName.SCHEMA_EXTRACTION: StageScript(silent_attempts=1)})
    policy = StagePolicy(max_attempts=1, heartbeat_timeout_seconds=0.5)
    async with running(time_skipping_env.client, mocks, generation_input(policy=policy)) as handle:
        outcome = await handle.result()
        progress = await handle.query(GenerationWorkflow.progress)

    assert outcome.status == "completed"
    assert progress.stages[StageName.SCHEMA_EXTRACTION].attempts == 2


@pytest.mark.parametrize("stage", STAGES)
async def test_a_cancel_stops_the_running_stage_and_skips_the_rest(
    time_skipping_env: WorkflowEnvironment, stage: StageName
) -> None:
    mocks = MockActivities({stage: StageScript(hang=True)})
    input = generation_input()
    async with running(time_skipping_env.client, mocks, input) as handle:
        await mocks.running[stage].wait()

        await handle.cancel(reason="changed my mind")
        error = await failure_of(handle)
        await eventually(lambda: mocks.cancelled, timeout=10, what="the stage's cancel")
        progress = await handle.query(GenerationWorkflow.progress)

    assert isinstance(error, CancelledError), repr(error)
    assert mocks.cancelled == [stage]
    assert mocks.inputs("record_cancelled") == [CancelInput(input.generation_id, "changed my mind")]
    later = [s.activity for s in STAGE_DEFS[STAGES.index(stage) + 1 :]]
    assert not {"fail_generation", "complete_generation", *later} & set(mocks.names())
    assert (progress.status, progress.stage) == ("cancelled", stage)


async def test_a_cancel_ends_the_wait_for_approval(time_skipping_env: WorkflowEnvironment) -> None:
    mocks = MockActivities()
    input = generation_input(require_approval=True)
    async with running(time_skipping_env.client, mocks, input) as handle:

        async def waiting() -> bool:
            return (await handle.query(GenerationWorkflow.progress)).status == "awaiting_approval"

        await eventually(waiting, timeout=10, what="the approval wait")
        await handle.cancel()
        error = await failure_of(handle)

    assert isinstance(error, CancelledError), repr(error)
    assert mocks.inputs("record_cancelled") == [CancelInput(input.generation_id, None)]
    assert not {"record_approved", "generate_code", "fail_generation"} & set(mocks.names())


@pytest.mark.parametrize(
    "error_type",
    [
        "invalid_requirements",  # the requirements cannot become a spec
        "invalid_model_output",  # the model's answer stays invalid
        "provider_rejected",  # the model server refused the request
        "unsupported_provider",
        "missing_spec",
        "gone",  # the row was deleted
    ],
)
async def test_a_stages_non_retryable_error_fails_the_generation_with_its_type(
    time_skipping_env: WorkflowEnvironment, error_type: str
) -> None:
    mocks = MockActivities({StageName.CODE_GENERATION: StageScript(error_type=error_type)})
    input = generation_input()
    async with running(time_skipping_env.client, mocks, input) as handle:
        error = await failure_of(handle)

    message = f"code_generation: {error_type} (scripted)"
    assert isinstance(error, ApplicationError), repr(error)
    assert (error.type, error.message, error.non_retryable) == (error_type, message, True)
    assert mocks.inputs("fail_generation") == [
        FailureInput(input.generation_id, StageName.CODE_GENERATION, error_type, message)
    ]
    assert [call.attempt for call in mocks.calls if call.name == "generate_code"] == [1]
    assert not {"review_code", "complete_generation"} & set(mocks.names())


async def test_a_stage_past_its_own_deadline_fails_with_stage_timeout(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # A running activity stops the clock from skipping: a stage deadline of a real second.
    mocks = MockActivities({StageName.CODE_REVIEW: StageScript(hang=True)})
    input = generation_input(policy=StagePolicy(deadline_seconds=1.0))
    async with running(time_skipping_env.client, mocks, input) as handle:
        error = await failure_of(handle)

    assert isinstance(error, ApplicationError), repr(error)
    assert error.type == "stage_timeout"
    [failure] = mocks.inputs("fail_generation")
    assert (failure.stage, failure.code, failure.message) == (
        StageName.CODE_REVIEW,
        "stage_timeout",
        "the stage did not finish before its deadline",
    )
