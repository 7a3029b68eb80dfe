"""Inputs and outputs of the workflows and their activities: the contract between the
API, the workflows and the activities. Small, content by reference; pure dataclasses,
safe in workflow code. Fields are only ever added, with defaults, so running workflows
keep replaying (tests/test_replay.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class WebhookTarget:
    url: str
    events: list[str]
    schedule_seconds: list[float]


@dataclass
class WebhookDelivery:
    """One event for one receiver; `message_id` is the stable `webhook-id`."""

    message_id: str
    user_id: str
    url: str
    event: str
    payload: dict[str, Any]
    schedule_seconds: list[float]


@dataclass
class StagePolicy:
    """How a stage is retried: infrastructure faults until `deadline_seconds` (a
    schedule-to-close), the stage's own errors at most `max_attempts` times."""

    deadline_seconds: float = 6 * 3600.0
    max_attempts: int = 5
    heartbeat_timeout_seconds: float = 5.0


@dataclass(kw_only=True)
class Requested:
    """What a generation's user asked for besides the prompt: in the workflow's input
    and in the row about to be created (`genflow.db.new_generation`). The two are
    converted field by field, by name, so a field added here needs no other edit to
    travel from the API to the workflow."""

    title: str | None = None
    project_id: str | None = None
    template: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # `interactive`, `normal` or `batch` (genflow/fairness.py); None: normal.
    priority: str | None = None
    # The generation's token budget, in and out over all stages (None: no budget).
    max_tokens: int | None = None
    require_approval: bool = False
    webhook: WebhookTarget | None = None
    # Past this many seconds from its start, the generation fails `deadline_exceeded`.
    timeout_seconds: float | None = None


@dataclass
class GenerationInput(Requested):
    """Everything needed to (re)create the generation's row: the workflow inserts it
    itself if the API died before it could."""

    generation_id: str
    user_id: str
    prompt: str
    provider: str = "builtin"
    created_at: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    iteration: int = 0
    approval_timeout_seconds: float = 86_400.0
    policy: StagePolicy = field(default_factory=StagePolicy)
    # True when the request was too large for a workflow input: `prompt` is then an
    # excerpt, `variables` and `metadata` empty, and the read model holds the rest.
    stored_input: bool = False
    # The failed or cancelled generation this one reruns (`POST .../retry`), if any.
    retry_of: str | None = None


@dataclass
class StageInput:
    generation_id: str
    stage: str
    max_attempts: int = 5  # of the stage's own errors; infrastructure faults not counted
    # The first stage also records the start (and inserts the row from this input if
    # the API died before it did); the last stage also completes the generation.
    start: GenerationInput | None = None
    complete: bool = False


@dataclass
class StageResult:
    stage: str
    attempt: int
    files: int = 0
    quality_score: float | None = None
    recorded: bool = True


@dataclass
class FailureInput:
    generation_id: str
    stage: str | None
    code: str
    message: str


@dataclass
class CancelInput:
    generation_id: str
    reason: str | None = None


@dataclass
class GenerationRef:
    generation_id: str


@dataclass
class StageProgress:
    status: str = "pending"
    attempts: int = 0


@dataclass
class Progress:
    """What the `progress` query answers."""

    generation_id: str
    status: str
    stage: str | None
    percent: int
    stages: dict[str, StageProgress]
    quality_score: float | None = None


@dataclass
class GenerationOutcome:
    generation_id: str
    status: str
    quality_score: float | None = None


@dataclass
class ApprovalDecision:
    """The body of the `approve` and `reject` updates."""

    reason: str | None = None


@dataclass
class ReconcileInput:
    """One pass of the reconciler (see genflow.reconcile); for the long-lived
    ReconcilerWorkflow, also how often it passes and how many passes one run makes
    before it continues as new."""

    max_rows: int = 10_000
    grace_seconds: float = 60.0
    every_seconds: float = 10.0
    passes_per_run: int = 360
    paused: bool = False


@dataclass
class ReconcileOutcome:
    checked: int
    settled: dict[str, int]


@dataclass
class RetentionInput:
    """What one purge keeps (see genflow.db.retention); set from settings."""

    idempotency_ttl_hours: float = 24.0
    tombstone_ttl_hours: float = 7 * 24.0
    generation_retention_days: float | None = None
