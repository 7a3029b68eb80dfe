"""The four stage activities. Each reads its input from the read model, does its work
while heartbeating, and stores its output as artifacts in one transaction."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.attempts import StageAttempts, StageOutput, StageWork
from genflow.contracts import StageInput, StageResult
from genflow.db.models import Generation
from genflow.db.repository import GenerationRepository
from genflow.domain import StageName, stage_def
from genflow.files import FileOut
from genflow.pipeline.language.sentences import count_sentences
from genflow.pipeline.migrations.plan import with_migrations
from genflow.pipeline.review.report import DEFAULT_SANDBOX, Sandbox, SandboxLimits, review
from genflow.pipeline.spec import ProjectSpec
from genflow.pipeline.templates import generate_docs
from genflow.providers import Provider, SpecRequest
from genflow.providers.budget import TokenBudget
from genflow.providers.builtin import BuiltinProvider

SPEC_PATH = "spec.json"
CHANGES_PATH = "changes.json"
REPORT_PATH = "review/quality_report.json"


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
        self._attempts = StageAttempts(repository, attempt_seconds)

    async def _run(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
        """One attempt of `stage` doing `work`; a test overrides it to script faults."""
        return await self._attempts.run(input, stage, work)

    async def _generation(self, generation_id: uuid.UUID) -> Generation:
        generation = await self._repository.get(generation_id)
        if generation is None:
            raise ApplicationError("generation no longer exists", type="gone", non_retryable=True)
        return generation

    def _runs_generated_code(self, generation_id: uuid.UUID) -> bool:
        """Whether the review runs this generation's tests: the worker's setting (a test
        overrides it to choose per generation)."""
        return self._run_generated_code

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

    @activity.defn(name=stage_def(StageName.SCHEMA_EXTRACTION).activity)
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

    @activity.defn(name=stage_def(StageName.CODE_GENERATION).activity)
    async def generate_code(self, input: StageInput) -> StageResult:
        """The spec to source and test files; an iteration starts from its parent's. A
        fastapi-service project gets the migration that brings its parent's tables to
        the new spec (genflow.pipeline.migrations.plan)."""

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

    @activity.defn(name=stage_def(StageName.CODE_REVIEW).activity)
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
                run_tests_enabled=self._runs_generated_code(generation_id),
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

    @activity.defn(name=stage_def(StageName.DOCUMENTATION).activity)
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
