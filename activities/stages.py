"""The four stage activities. Each reads its input from the read model, does its work
while heartbeating, and stores its output as artifacts in one transaction."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from genflow.db.models import Generation
from genflow.db.repository import FileOut, GenerationRepository
from genflow.domain import StageName
from genflow.pipeline.codegen import generate_code, generate_docs
from genflow.pipeline.review import SandboxLimits, review
from genflow.pipeline.spec import (
    BadRequirements,
    ProjectSpec,
    extend_requirements,
    parse_requirements,
)
from workflows.types import StageInput, StageResult

HEARTBEAT_EVERY = timedelta(seconds=1)
SPEC_PATH = "spec.json"
CHANGES_PATH = "changes.json"
REPORT_PATH = "review/quality_report.json"

T = TypeVar("T")
StageWork = Callable[
    [uuid.UUID], Awaitable[tuple[list[FileOut], float | None, dict[str, Any] | None]]
]


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
    def __init__(self, repository: GenerationRepository, limits: SandboxLimits) -> None:
        self._repository = repository
        self._limits = limits

    async def _run(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
        generation_id = uuid.UUID(input.generation_id)
        attempt = activity.info().attempt
        if not await self._repository.stage_started(generation_id, stage, attempt):
            return StageResult(stage=stage, attempt=attempt, recorded=False)
        activity.heartbeat()
        try:
            files, score, report = await heartbeat_while(work(generation_id))
        except BadRequirements as err:
            raise ApplicationError(
                str(err), type="invalid_requirements", non_retryable=True
            ) from err
        except ApplicationError:
            raise
        except Exception as err:
            await self._repository.stage_retrying(generation_id, stage, attempt, _describe(err))
            raise
        recorded = await self._repository.stage_completed(
            generation_id, stage, attempt, files, score, report
        )
        return StageResult(
            stage=stage, attempt=attempt, files=len(files), quality_score=score, recorded=recorded
        )

    async def _generation(self, generation_id: uuid.UUID) -> Generation:
        generation = await self._repository.get(generation_id)
        if generation is None:
            raise ApplicationError("generation no longer exists", type="gone", non_retryable=True)
        if generation.provider != "builtin":
            raise ApplicationError(
                f"provider {generation.provider!r} is not available",
                type="unsupported_provider",
                non_retryable=True,
            )
        return generation

    async def _spec(self, generation_id: uuid.UUID) -> ProjectSpec:
        file = await self._repository.read_file(generation_id, SPEC_PATH)
        if file is None:
            raise ApplicationError(
                "the spec artifact is missing", type="missing_spec", non_retryable=True
            )
        return ProjectSpec.model_validate_json(file.content)

    @activity.defn(name="extract_schema")
    async def extract_schema(self, input: StageInput) -> StageResult:
        """Requirements to a typed ProjectSpec, stored as `spec.json`."""

        async def work(generation_id: uuid.UUID) -> tuple[list[FileOut], None, None]:
            generation = await self._generation(generation_id)
            if generation.parent_id is not None:
                base = await self._spec(generation.parent_id)
                spec, changes = extend_requirements(base, generation.prompt)
                change_log = {"parent_id": str(generation.parent_id), "changes": changes}
                files = [
                    FileOut(
                        CHANGES_PATH,
                        "spec",
                        json.dumps(change_log, indent=2).encode(),
                        "application/json",
                    )
                ]
            else:
                name = generation.variables.get("name")
                spec = parse_requirements(
                    generation.prompt, name=name if isinstance(name, str) else None
                )
                files = []
            content = spec.model_dump_json(indent=2).encode()
            return [FileOut(SPEC_PATH, "spec", content, "application/json"), *files], None, None

        return await self._run(input, StageName.SCHEMA_EXTRACTION, work)

    @activity.defn(name="generate_code")
    async def generate_code(self, input: StageInput) -> StageResult:
        """The spec to source and test files."""

        async def work(generation_id: uuid.UUID) -> tuple[list[FileOut], None, None]:
            generation = await self._generation(generation_id)
            generated = generate_code(await self._spec(generation_id))
            if generation.parent_id is None:
                return generated, None, None
            # An iteration starts from its parent's files; regenerated ones replace them.
            files = {
                f.path: f
                for f in await self._repository.read_files(generation.parent_id, ["source", "test"])
            }
            files.update((f.path, f) for f in generated)
            return list(files.values()), None, None

        return await self._run(input, StageName.CODE_GENERATION, work)

    @activity.defn(name="review_code")
    async def review_code(self, input: StageInput) -> StageResult:
        """Compile every file, run the project's tests in a sandbox, score the result."""

        async def work(generation_id: uuid.UUID) -> tuple[list[FileOut], float, dict[str, Any]]:
            files = await self._repository.read_files(generation_id, ["source", "test"])
            result = await review(files, self._limits)
            report = json.dumps(result.report, indent=2).encode()
            stored = [FileOut(REPORT_PATH, "review", report, "application/json")]
            return stored, result.score, result.report

        return await self._run(input, StageName.CODE_REVIEW, work)

    @activity.defn(name="write_documentation")
    async def write_documentation(self, input: StageInput) -> StageResult:
        """README and API reference of the generated project."""

        async def work(generation_id: uuid.UUID) -> tuple[list[FileOut], None, None]:
            spec = await self._spec(generation_id)
            generation = await self._repository.get(generation_id)
            score = generation.quality_score if generation else None
            return generate_docs(spec, score), None, None

        return await self._run(input, StageName.DOCUMENTATION, work)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:1000]
