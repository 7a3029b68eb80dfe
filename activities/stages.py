"""The four stage activities. Each reads its input from the read model, does its work
while heartbeating, and stores its output as artifacts in one transaction."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.store import count_finished
from genflow.contracts import StageInput, StageResult
from genflow.db.errors import is_database_outage
from genflow.db.models import Generation
from genflow.db.repository import GenerationRepository
from genflow.db.usage import record_spent
from genflow.domain import STAGE_ACTIVITY_TYPES, STAGE_ATTEMPT_SECONDS, StageName
from genflow.files import FileOut
from genflow.pipeline.language import count_sentences
from genflow.pipeline.migrations import with_migrations
from genflow.pipeline.review import DEFAULT_SANDBOX, Sandbox, SandboxLimits, review
from genflow.pipeline.spec import BadRequirements, ProjectSpec
from genflow.pipeline.templates import generate_docs
from genflow.providers import Provider, ProviderError, SpecRequest, Usage
from genflow.providers.budget import TokenBudget
from genflow.providers.builtin import BuiltinProvider

HEARTBEAT_EVERY = timedelta(seconds=1)
SPEC_PATH = "spec.json"
CHANGES_PATH = "changes.json"
REPORT_PATH = "review/quality_report.json"

T = TypeVar("T")


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


async def heartbeat_while(work: Awaitable[T]) -> T:
    """Await `work`, heartbeating every second so a dead worker is noticed within the
    heartbeat timeout and a cancel reaches us; cancelling us cancels `work`."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY.total_seconds())
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()


class StageActivities:
    def __init__(
        self,
        repository: GenerationRepository,
        limits: SandboxLimits,
        providers: Mapping[str, Provider] | None = None,
        run_generated_code: bool = True,
        sandbox: Sandbox | None = DEFAULT_SANDBOX,
        attempt_seconds: Mapping[str, float] | None = None,
    ) -> None:
        """`sandbox` runs the generated tests; None runs them without it (the unsafe
        setting only). `attempt_seconds` overrides a stage's own limit per attempt."""
        self._repository = repository
        self.sandbox = sandbox
        self._limits = limits
        self._providers: Mapping[str, Provider] = providers or {"builtin": BuiltinProvider()}
        self._run_generated_code = run_generated_code
        self._attempt_seconds = {str(stage): s for stage, s in STAGE_ATTEMPT_SECONDS.items()}
        self._attempt_seconds.update(attempt_seconds or {})

    async def _run(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
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

    async def _generation(self, generation_id: uuid.UUID) -> Generation:
        generation = await self._repository.get(generation_id)
        if generation is None:
            raise ApplicationError("generation no longer exists", type="gone", non_retryable=True)
        return generation

    def _provider(self, generation: Generation) -> Provider:
        provider = self._providers.get(generation.provider)
        if provider is None:
            raise ApplicationError(
                f"provider {generation.provider!r} is not configured on this worker",
                type="unsupported_provider",
                non_retryable=True,
            )
        return provider

    async def _spec(self, generation_id: uuid.UUID) -> ProjectSpec:
        file = await self._repository.read_file(generation_id, SPEC_PATH)
        if file is None:
            raise ApplicationError(
                "the spec artifact is missing", type="missing_spec", non_retryable=True
            )
        return ProjectSpec.model_validate_json(file.content)

    @activity.defn(name=STAGE_ACTIVITY_TYPES[StageName.SCHEMA_EXTRACTION])
    async def extract_schema(self, input: StageInput) -> StageResult:
        """Requirements (and for an iteration the parent's spec) to a typed
        ProjectSpec, stored as `spec.json`; an iteration's changes as `changes.json`."""

        async def work(generation_id: uuid.UUID) -> StageOutput:
            generation = await self._generation(generation_id)
            base = await self._spec(generation.parent_id) if generation.parent_id else None
            request = SpecRequest(
                prompt=generation.prompt,
                template=generation.template,
                variables=generation.variables,
                model=generation.model,
                base=base,
            )
            spec, changes, usage = await self._provider(generation).extract_spec(
                request, activity.heartbeat, budget_of(generation)
            )
            # Counted here for every provider (a model's own count is not taken): the
            # review scores the share of the prompt's sentences understood.
            sentences = await asyncio.to_thread(count_sentences, generation.prompt)
            spec = spec.model_copy(update={"sentences": sentences})
            content = spec.model_dump_json(indent=2).encode()
            files = [FileOut(SPEC_PATH, "spec", content, "application/json")]
            if base is not None:
                log = {"parent_id": str(generation.parent_id), "changes": changes}
                files.append(
                    FileOut(
                        CHANGES_PATH, "spec", json.dumps(log, indent=2).encode(), "application/json"
                    )
                )
            return StageOutput(files, usage)

        return await self._run(input, StageName.SCHEMA_EXTRACTION, work)

    @activity.defn(name=STAGE_ACTIVITY_TYPES[StageName.CODE_GENERATION])
    async def generate_code(self, input: StageInput) -> StageResult:
        """The spec to source and test files; an iteration starts from its parent's. A
        fastapi-service project gets the migration that brings its parent's tables to
        the new spec (genflow.pipeline.migrations)."""

        async def work(generation_id: uuid.UUID) -> StageOutput:
            generation = await self._generation(generation_id)
            spec = await self._spec(generation_id)
            generated, usage = await self._provider(generation).generate_files(
                spec, generation.model, activity.heartbeat, budget_of(generation)
            )
            parent_spec: ProjectSpec | None = None
            parent_files: list[FileOut] = []
            changes: list[str] = []
            if generation.parent_id is not None:
                parent_spec = await self._spec(generation.parent_id)
                parent_files = await self._repository.read_files(
                    generation.parent_id, ["source", "test"]
                )
                log = await self._repository.read_file(generation_id, CHANGES_PATH)
                changes = json.loads(log.content).get("changes", []) if log else []
            files = await asyncio.to_thread(
                with_migrations, parent_spec, spec, changes, parent_files, generated
            )
            return StageOutput(files, usage)

        return await self._run(input, StageName.CODE_GENERATION, work)

    @activity.defn(name=STAGE_ACTIVITY_TYPES[StageName.CODE_REVIEW])
    async def review_code(self, input: StageInput) -> StageResult:
        """Compile and lint every file, run the project's tests in a sandbox, score it."""

        async def work(generation_id: uuid.UUID) -> StageOutput:
            files = await self._repository.read_files(generation_id, ["source", "test"])
            changes_file = await self._repository.read_file(generation_id, CHANGES_PATH)
            changes = json.loads(changes_file.content) if changes_file else None
            spec_file = await self._repository.read_file(generation_id, SPEC_PATH)
            spec = ProjectSpec.model_validate_json(spec_file.content) if spec_file else None
            result = await review(
                files,
                self._limits,
                run_tests_enabled=self._run_generated_code,
                changes=changes,
                requirements=None
                if spec is None
                else {
                    "not_understood": spec.not_understood,
                    "unused_variables": spec.unused_variables,
                    "sentences": spec.sentences,
                },
                sandbox=self.sandbox,
            )
            report = json.dumps(result.report, indent=2).encode()
            stored = [FileOut(REPORT_PATH, "review", report, "application/json")]
            return StageOutput(
                stored,
                quality_score=result.score,
                quality_report=result.report,
                sandbox_cpu_seconds=sandbox_cpu_seconds(result.report),
            )

        return await self._run(input, StageName.CODE_REVIEW, work)

    @activity.defn(name=STAGE_ACTIVITY_TYPES[StageName.DOCUMENTATION])
    async def write_documentation(self, input: StageInput) -> StageResult:
        """README and API reference of the generated project."""

        async def work(generation_id: uuid.UUID) -> StageOutput:
            spec = await self._spec(generation_id)
            generation = await self._generation(generation_id)
            docs = await asyncio.to_thread(generate_docs, spec, generation.quality_score)
            return StageOutput(docs)

        return await self._run(input, StageName.DOCUMENTATION, work)


def budget_of(generation: Generation) -> TokenBudget:
    """The generation's token budget (set at its create; none for older rows), less what
    its earlier stages used."""
    limit = (generation.options or {}).get("max_tokens")
    metrics = generation.metrics or {}
    spent = int(metrics.get("tokens_in", 0)) + int(metrics.get("tokens_out", 0))
    return TokenBudget(limit=int(limit) if limit else None, spent=spent)


def sandbox_cpu_seconds(report: dict[str, Any]) -> float:
    """The CPU time the review's sandboxed test run used, from its quality report."""
    for check in report.get("checks", []):
        if check.get("name") == "tests" and isinstance(check.get("sandbox"), dict):
            return float(check["sandbox"].get("cpu_seconds") or 0.0)
    return 0.0


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:1000]
