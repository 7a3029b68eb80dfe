"""GenerationWorkflow's cancels and failure mapping on Temporal's time-skipping test
server, with every activity mocked by name (tests/workflow_mocks.py)."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from genflow.contracts import CancelInput, FailureInput, StagePolicy
from genflow.domain import STAGE_DEFS, STAGES, StageName
from tests.support import eventually
from tests.workflow_mocks import (
    MockActivities,
    StageScript,
    failure_of,
    generation_input,
    running,
)
from workflows.generation import GenerationWorkflow


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
