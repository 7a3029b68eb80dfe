"""How GenerationWorkflow schedules its activities: the options of its read-model writes,
and the call that runs one stage as its row in genflow.domain.STAGE_DEFS describes it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.stages import StageActivities
    from genflow.contracts import StageInput, StagePolicy, StageResult
    from genflow.domain import STAGES, StageDef, sandbox_task_queue

# Stage retries back off 1 s, 2 s, 4 s, ... up to 30 s, with no attempt limit here:
# infrastructure faults (a worker killed or starved) are retried until the stage's
# deadline (schedule-to-close, from the input's policy); the stage activity itself
# ends its own errors as non-retryable after `StagePolicy.max_attempts`.
STAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
STORE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
    ),
}


async def execute_stage(
    stage: StageDef, number: int, stage_input: StageInput, policy: StagePolicy
) -> StageResult:
    """Run `stage` (the `number`th) to its result, retried as STAGE_RETRY says within the
    deadline of `policy`; its activity is the StageActivities method the row names."""
    queue = workflow.info().task_queue
    result: StageResult = await workflow.execute_activity_method(
        getattr(StageActivities, stage.activity),
        stage_input,
        # Stages that run generated code go to the sandbox task queue, whose workers take
        # a bounded number at once; the rest wait there, with no schedule-to-start timeout.
        task_queue=sandbox_task_queue(queue) if stage.sandboxed else queue,
        schedule_to_close_timeout=timedelta(seconds=policy.deadline_seconds),
        start_to_close_timeout=timedelta(seconds=stage.start_to_close_seconds),
        heartbeat_timeout=timedelta(seconds=policy.heartbeat_timeout_seconds),
        retry_policy=STAGE_RETRY,
        priority=workflow.info().priority,  # the user's fair share; see genflow/fairness.py
        summary=f"Stage {number} of {len(STAGES)}: {stage.summary}",
    )
    return result
