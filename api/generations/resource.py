"""A generation as clients see it, and a page of them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from genflow.db.models import Generation
from genflow.domain import StageStatus, Status
from genflow.settings import Settings


class StageOut(BaseModel):
    name: str
    status: StageStatus
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    duration_ms: int | None
    error: str | None
    queued_at: datetime | None = Field(
        default=None, description="Since when the stage waits in the task queue (if it does)"
    )
    queue_ms: int | None = Field(
        default=None, description="How long its latest attempt waited in the queue"
    )


class QueueOut(BaseModel):
    """Present while a stage of this generation waits in Temporal's task queue for a
    free worker slot (a burst larger than the workers); absent otherwise."""

    stage: str
    since: datetime


class ArtifactOut(BaseModel):
    id: uuid.UUID
    path: str
    kind: str
    size_bytes: int
    sha256: str
    media_type: str


class ErrorOut(BaseModel):
    code: str
    message: str


class MetricsOut(BaseModel):
    queue_ms: int | None
    run_ms: int | None
    stage_ms: dict[str, int]
    tokens_in: int
    tokens_out: int
    sandbox_cpu_seconds: float = Field(
        default=0.0, description="CPU time of the review's sandboxed test run"
    )
    max_tokens: int | None = Field(
        default=None, description="The token budget (in and out, all stages); null: none"
    )


class GenerationUrls(BaseModel):
    self: str
    stream: str
    cancel: str
    archive: str


class GenerationOut(BaseModel):
    id: uuid.UUID
    user_id: str
    project_id: str | None
    parent_id: uuid.UUID | None
    root_id: uuid.UUID | None
    iteration: int
    retry_of: uuid.UUID | None = Field(
        default=None, description="The failed or cancelled generation this one reruns"
    )
    title: str | None
    prompt: str
    template: str | None
    variables: dict[str, Any]
    provider: str
    model: str | None
    priority: str = Field(
        default="normal", description="`interactive`, `normal` or `batch` (see Sharing)"
    )
    status: Status
    stage: str | None
    progress: int = Field(ge=0, le=100)
    queue: QueueOut | None = Field(
        default=None, description="The stage waiting for a worker, and since when"
    )
    stages: list[StageOut]
    quality_score: float | None
    quality_report: dict[str, Any] | None
    not_understood: list[str] | None = Field(
        default=None,
        description="Sentences of the prompt the provider could not read (from the quality "
        "report's `requirements` check; null until the review has run)",
    )
    unused_variables: list[str] | None = Field(
        default=None,
        description="Request variables the generation did not use (from the quality "
        "report's `requirements` check; null until the review has run)",
    )
    error: ErrorOut | None
    cancel_reason: str | None
    tags: list[str]
    metadata: dict[str, Any]
    artifacts: list[ArtifactOut]
    metrics: MetricsOut
    workflow_id: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    urls: GenerationUrls

    @classmethod
    def from_row(
        cls,
        row: Generation,
        stages: Sequence[Any] | None = None,
        artifacts: Sequence[Any] | None = None,
        public_url: str | None = None,
    ) -> GenerationOut:
        """The resource; `stages` and `artifacts` (plain rows) replace the row's own
        relationships when a list page loaded them separately. `urls` are absolute
        under `public_url` when it is given."""
        base = f"{public_url or ''}/v1/generations/{row.id}"
        stages = row.stages if stages is None else stages
        artifacts = row.artifacts if artifacts is None else artifacts
        # Rows from our own read model: construct without validating them again.
        return cls.model_construct(
            id=row.id,
            user_id=row.user_id,
            project_id=row.project_id,
            parent_id=row.parent_id,
            root_id=row.root_id,
            iteration=row.iteration,
            retry_of=row.retry_of,
            title=row.title,
            prompt=row.prompt,
            template=row.template,
            variables=row.variables,
            provider=row.provider,
            model=row.model,
            priority=(row.options or {}).get("priority") or "normal",
            status=Status(row.status),
            stage=row.stage,
            progress=row.progress,
            queue=_queue(row.status, stages),
            stages=[
                StageOut.model_construct(
                    name=s.name,
                    status=StageStatus(s.status),
                    attempts=s.attempts,
                    started_at=s.started_at,
                    ended_at=s.ended_at,
                    duration_ms=s.duration_ms,
                    error=s.error,
                    queued_at=s.queued_at,
                    queue_ms=s.queue_ms,
                )
                for s in stages
            ],
            quality_score=row.quality_score,
            quality_report=row.quality_report,
            not_understood=_requirement(row.quality_report, "not_understood"),
            unused_variables=_requirement(row.quality_report, "unused_variables"),
            error=ErrorOut.model_construct(code=row.error_code, message=row.error_message or "")
            if row.error_code
            else None,
            cancel_reason=row.cancel_reason,
            tags=row.tags,
            metadata=row.meta,
            artifacts=[
                ArtifactOut.model_construct(
                    id=a.id,
                    path=a.path,
                    kind=a.kind,
                    size_bytes=a.size_bytes,
                    sha256=a.sha256,
                    media_type=a.media_type,
                )
                for a in artifacts
            ],
            metrics=MetricsOut.model_construct(
                queue_ms=_ms(row.created_at, row.started_at),
                run_ms=_ms(row.started_at, row.completed_at),
                stage_ms={s.name: s.duration_ms for s in stages if s.duration_ms is not None},
                tokens_in=int(row.metrics.get("tokens_in", 0)),
                tokens_out=int(row.metrics.get("tokens_out", 0)),
                sandbox_cpu_seconds=int(row.metrics.get("sandbox_cpu_ms", 0)) / 1000,
                max_tokens=(row.options or {}).get("max_tokens"),
            ),
            workflow_id=row.workflow_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
            urls=GenerationUrls.model_construct(
                self=base,
                stream=f"{base}/stream",
                cancel=f"{base}/cancel",
                archive=f"{base}/archive",
            ),
        )


def _requirement(report: dict[str, Any] | None, key: str) -> list[str] | None:
    """One list of the review's `requirements` check: what of the request went unused."""
    for check in (report or {}).get("checks", []):
        if check.get("name") == "requirements":
            found: list[str] = check.get(key, [])
            return found
    return None


def _queue(status: str, stages: Sequence[Any]) -> QueueOut | None:
    if status not in (Status.PENDING, Status.PROCESSING):
        return None
    for stage in stages:
        if stage.status == StageStatus.PENDING and stage.queued_at is not None:
            return QueueOut.model_construct(stage=stage.name, since=stage.queued_at)
    return None


class GenerationPage(BaseModel):
    items: list[GenerationOut]
    next_cursor: str | None


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() * 1000))


def present(
    row: Generation,
    settings: Settings,
    stages: Sequence[Any] | None = None,
    artifacts: Sequence[Any] | None = None,
) -> GenerationOut:
    """The resource, with `urls` under the public URL when one is configured."""
    return GenerationOut.from_row(row, stages, artifacts, public_url=settings.public_url)
