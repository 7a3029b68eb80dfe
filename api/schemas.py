"""Request and response models of the HTTP API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from genflow.db.models import Generation
from genflow.domain import StageStatus, Status
from genflow.webhooks import EVENTS, WebhookEvent


def clean_text(value: str) -> str:
    """Refuse what no database can store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError("must be valid Unicode text") from err
    return value


def _clean_json(value: Any) -> None:
    if isinstance(value, str):
        clean_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            clean_text(key)
            _clean_json(item)
    elif isinstance(value, list):
        for item in value:
            _clean_json(item)


def _json_at_most(limit: int) -> AfterValidator:
    def check(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        _clean_json(value)
        if len(json.dumps(value).encode()) > limit:
            raise ValueError(f"must serialize to at most {limit // 1024} KiB of JSON")
        return value

    return AfterValidator(check)


# The pattern tells clients (and the fuzzer) what clean_text refuses: NUL, which no
# database text column can store.
Text = Annotated[
    str, AfterValidator(clean_text), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]


def _not_a_number(value: Any) -> Any:
    """A moment is ISO 8601 text: pydantic alone would also read "0.5" as Unix time."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be an ISO 8601 date-time, such as 2025-01-31T12:00:00Z")
    return value


Moment = Annotated[datetime, BeforeValidator(_not_a_number)]
TimeoutSeconds = Annotated[
    float | None,
    Field(
        strict=True,  # a number, not true (pydantic would read it as 1)
        gt=0,
        le=30 * 24 * 3600,
        description="Deadline from the start; past it the generation fails with "
        "`deadline_exceeded` (default: the server's setting)",
    ),
]
Tag = Annotated[Text, Field(min_length=1, max_length=64)]


class GenerationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: Text = Field(min_length=1, max_length=20_000, description="The requirements.")
    title: Text | None = Field(default=None, max_length=500)
    project_id: Text | None = Field(default=None, min_length=1, max_length=255)
    template: Literal["python-library", "fastapi-service", "cli-tool"] | None = Field(
        default=None, description="Project template; default python-library"
    )
    variables: Annotated[dict[str, Any], _json_at_most(64 * 1024)] = Field(default_factory=dict)
    provider: Literal["builtin", "openai"] = Field(
        default="builtin",
        description="`builtin` (offline, deterministic) or `openai` (any OpenAI-compatible server)",
    )
    model: Text | None = Field(default=None, max_length=200)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    metadata: Annotated[dict[str, Any], _json_at_most(16 * 1024)] = Field(default_factory=dict)
    require_approval: bool = Field(
        default=False,
        strict=True,  # true or false, not 1 or "yes"
        description="Pause after schema extraction (`awaiting_approval`) until approved",
    )
    webhook_url: Text | None = Field(
        default=None, max_length=2000, description="Receives signed events (Standard Webhooks)"
    )
    webhook_events: list[WebhookEvent] | None = Field(
        default=None,
        description="Which events to send (needs `webhook_url`); default all",
        max_length=len(EVENTS),
    )
    timeout_seconds: TimeoutSeconds = None


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, max_length=1000)


class DecisionRequest(BaseModel):
    """Body of approve and reject."""

    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, max_length=1000)


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


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() * 1000))


class GenerationUpdate(BaseModel):
    """Only these three fields can change after creation."""

    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(default=None, max_length=500)
    # Not nullable: send [] or {} to clear them (a missing field is left as it is).
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    metadata: Annotated[dict[str, Any], _json_at_most(16 * 1024)] = Field(default_factory=dict)


class IterationCreate(BaseModel):
    """A new generation built on a completed one: its spec and files are the base."""

    model_config = ConfigDict(extra="forbid")

    prompt: Text = Field(min_length=1, max_length=20_000, description="What to change.")
    title: Text | None = Field(default=None, max_length=500)
    template: Literal["python-library", "fastapi-service", "cli-tool"] | None = None
    variables: Annotated[dict[str, Any], _json_at_most(64 * 1024)] | None = None
    provider: Literal["builtin", "openai"] | None = Field(
        default=None, description="Default: the parent's"
    )
    model: Text | None = Field(default=None, max_length=200, description="Default: the parent's")
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    metadata: Annotated[dict[str, Any], _json_at_most(16 * 1024)] = Field(default_factory=dict)
    # The same options as create, not inherited from the parent.
    require_approval: bool = Field(
        default=False,
        strict=True,  # true or false, not 1 or "yes"
        description="Pause after schema extraction (`awaiting_approval`) until approved",
    )
    webhook_url: Text | None = Field(
        default=None, max_length=2000, description="Receives signed events (Standard Webhooks)"
    )
    webhook_events: list[WebhookEvent] | None = Field(
        default=None,
        description="Which events to send (needs `webhook_url`); default all",
        max_length=len(EVENTS),
    )
    timeout_seconds: TimeoutSeconds = None


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=5000)


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    urls: dict[str, str]


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None


class StageStatisticsOut(BaseModel):
    average_ms: float | None
    p95_ms: float | None


class DayCountsOut(BaseModel):
    date: date
    created: int
    completed: int
    failed: int


class QueueLatencyOut(BaseModel):
    p50_ms: float | None
    p95_ms: float | None
    samples: int


class BacklogOut(BaseModel):
    queued: int = Field(description="Your stages waiting in the task queue for a worker")
    by_stage: dict[str, int]
    oldest_queued_at: datetime | None


class StatisticsOut(BaseModel):
    total: int
    by_status: dict[str, int]
    success_rate: float | None = Field(description="completed / (completed + failed + cancelled)")
    average_quality: float | None = Field(description="Mean quality score of completed ones")
    duration_p50_ms: float | None = Field(description="Run time (start to end) of completed ones")
    duration_p95_ms: float | None
    stages: dict[str, StageStatisticsOut]
    daily: list[DayCountsOut] = Field(description="The last 30 days, oldest first (UTC)")
    backlog: BacklogOut
    schedule_to_start: dict[str, QueueLatencyOut] = Field(
        description="Per stage: how long attempts waited in the queue (last 24 hours)"
    )


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="`whsec_` + base64 key for the HMAC-SHA256 signatures")
