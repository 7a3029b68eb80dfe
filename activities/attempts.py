"""One attempt of a stage: its own time limit, its heartbeats, the read-model writes
that record its start, end or failure, and which of its errors Temporal retries."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeat_while
from activities.store import count_finished
from genflow.contracts import StageInput, StageResult
from genflow.db.errors import is_database_outage
from genflow.db.repository import GenerationRepository
from genflow.db.usage import record_spent
from genflow.domain import STAGE_DEFS, StageName
from genflow.files import FileOut
from genflow.pipeline.spec import BadRequirements
from genflow.providers import ProviderError, Usage


class AttemptTimedOut(Exception):
    """An attempt ran past its stage's own time limit while its worker was alive."""

    def __init__(self, stage: StageName, seconds: float) -> None:
        super().__init__(f"the attempt ran past the {stage} limit of {seconds:g} s")


@dataclass
class StageOutput:
    files: list[FileOut]
    usage: Usage = field(default_factory=Usage)
    quality_score: float | None = None
    quality_report: dict[str, Any] | None = None
    sandbox_cpu_seconds: float = 0.0


StageWork = Callable[[uuid.UUID], Awaitable[StageOutput]]


class StageAttempts:
    """Runs the attempts of every stage of one worker, each within its stage's own limit."""

    def __init__(
        self, repository: GenerationRepository, attempt_seconds: Mapping[str, float] | None = None
    ) -> None:
        """`attempt_seconds` overrides a stage's own limit per attempt."""
        self._repository = repository
        self._attempt_seconds = {str(stage.name): stage.attempt_seconds for stage in STAGE_DEFS}
        self._attempt_seconds.update(attempt_seconds or {})

    async def run(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
        """One attempt of `stage`, heartbeating through all of its I/O (the read-model
        writes included), so it stays alive and cancellable from start to end."""
        return await heartbeat_while(self._attempt(input, stage, self._limited(stage, work)))

    def _limited(self, stage: StageName, work: StageWork) -> StageWork:
        """`work` within the stage's own limit per attempt. The work's CPU-heavy parts
        run in threads, so this event loop stays free to heartbeat and to end it."""
        seconds = self._attempt_seconds[stage]

        async def limited(generation_id: uuid.UUID) -> StageOutput:
            limit = asyncio.timeout(seconds)
            try:
                async with limit:
                    return await work(generation_id)
            except TimeoutError:
                if not limit.expired():
                    raise  # the work's own timeout (a database's, say), not the limit
            # Raised outside the handler: a TimeoutError as its context would read as a
            # lost database connection (genflow.db.errors), retried without counting.
            raise AttemptTimedOut(stage, seconds)

        return limited

    async def _attempt(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
        generation_id = uuid.UUID(input.generation_id)
        info = activity.info()
        attempt = info.attempt
        queued = datetime.now(UTC) - info.current_attempt_scheduled_time
        queue_ms = max(0, int(queued.total_seconds() * 1000))
        activity.metric_meter().create_histogram(
            "genflow_stage_schedule_to_start", "Time a stage attempt waited in the queue", "ms"
        ).record(queue_ms, {"stage": str(stage)})
        run_id = info.workflow_run_id
        if not await self._started(input, stage, attempt, queue_ms, run_id):
            return StageResult(stage=stage, attempt=attempt, recorded=False)
        started = time.monotonic()
        try:
            output = await work(generation_id)
        except BadRequirements as err:
            raise ApplicationError(
                str(err), type="invalid_requirements", non_retryable=True
            ) from err
        except ProviderError as err:
            if err.usage is not None and (err.usage.tokens_in or err.usage.tokens_out):
                # Spent before the error (a budget passed mid-stage): still the user's.
                await record_spent(
                    self._repository.session_maker,
                    generation_id,
                    (err.usage.tokens_in, err.usage.tokens_out),
                )
            raise ApplicationError(str(err), type=err.code, non_retryable=True) from err
        except ApplicationError:
            raise
        except Exception as err:
            code = "stage_timeout" if isinstance(err, AttemptTimedOut) else "stage_failed"
            await self._record_failure(input, stage, attempt, run_id, err, code)
            raise
        elapsed_ms = int((time.monotonic() - started) * 1000)
        meter = activity.metric_meter()
        meter.create_histogram("genflow_stage_duration", "Stage work time", "ms").record(
            elapsed_ms, {"stage": str(stage)}
        )
        activity.logger.info(
            "stage work done in %d ms, %d file(s), quality score %s",
            elapsed_ms,
            len(output.files),
            output.quality_score,
        )
        recorded = await self._repository.stage_completed(
            generation_id,
            stage,
            attempt,
            output.files,
            output.quality_score,
            output.quality_report,
            tokens=(output.usage.tokens_in, output.usage.tokens_out),
            run_id=run_id,
            sandbox_cpu_seconds=output.sandbox_cpu_seconds,
            complete=input.complete,
        )
        if recorded and input.complete:
            count_finished("completed")
        return StageResult(
            stage=stage,
            attempt=attempt,
            files=len(output.files),
            quality_score=output.quality_score,
            recorded=recorded,
        )

    async def _started(
        self,
        input: StageInput,
        stage: StageName,
        attempt: int,
        queue_ms: int,
        run_id: str | None,
    ) -> bool:
        """Record the attempt as running (the first stage: the start too). The first
        stage inserts the row from the workflow's input if the API died before it did."""
        generation_id = uuid.UUID(input.generation_id)
        first = input.start is not None
        started = await self._repository.stage_started(
            generation_id, stage, attempt, queue_ms, run_id, start=first
        )
        if started is None and input.start is not None:
            await self._repository.insert_from_workflow_input(input.start)
            started = await self._repository.stage_started(
                generation_id, stage, attempt, queue_ms, run_id, start=True
            )
        return bool(started)

    async def _record_failure(
        self,
        input: StageInput,
        stage: StageName,
        attempt: int,
        run_id: str | None,
        err: Exception,
        code: str,
    ) -> None:
        """Record a failed attempt. A database outage is an infrastructure fault:
        retried until the stage's deadline, not counted. The stage's own errors count,
        and the one that reaches `input.max_attempts` ends the stage with `code`,
        naming the error."""
        generation_id = uuid.UUID(input.generation_id)
        error = _describe(err)
        if is_database_outage(err):
            activity.logger.warning("stage attempt lost the read model, retried: %s", error)
            return
        failures = await self._repository.stage_retrying(
            generation_id, stage, attempt, error, run_id=run_id
        )
        if failures >= input.max_attempts:
            raise ApplicationError(
                f"{stage} failed {failures} time(s); last error: {error}",
                type=code,
                non_retryable=True,
            ) from err
        activity.logger.warning(
            "stage attempt failed (%d of %d allowed), Temporal retries it: %s",
            failures,
            input.max_attempts,
            error,
        )


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:1000]
