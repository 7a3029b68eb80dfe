"""Names shared by the API, the workflow and the activities. Pure: safe in workflow code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

# Work that runs generated code (the review) has its own task queue beside each
# generation's queue, served by a worker with a bounded number of sandbox slots.
SANDBOX_QUEUE_SUFFIX = "-sandbox"
# The project templates (genflow/pipeline/templates/<name>/).
Template = Literal["python-library", "fastapi-service", "cli-tool"]
TEMPLATES: tuple[str, ...] = get_args(Template)
DEFAULT_TEMPLATE: Template = "python-library"
WORKFLOW_TYPE = "GenerationWorkflow"
# The generation workflow's query and updates; the API calls them by these names.
PROGRESS_QUERY = "progress"
APPROVE_UPDATE = "approve"  # argument: genflow.contracts.ApprovalDecision
REJECT_UPDATE = "reject"


def rejection_message(reason: str | None) -> str:
    """The error message of a generation its approver rejected."""
    return f"rejected: {reason or 'no reason given'}"


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    AWAITING_APPROVAL = "awaiting_approval"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = frozenset(
    {Status.PENDING, Status.PROCESSING, Status.AWAITING_APPROVAL, Status.CANCELLING}
)
TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class StageName(StrEnum):
    SCHEMA_EXTRACTION = "schema_extraction"
    CODE_GENERATION = "code_generation"
    CODE_REVIEW = "code_review"
    DOCUMENTATION = "documentation"


@dataclass(frozen=True)
class StageDef:
    """What one stage is. Every part of genflow reads a stage's facts from its row in
    STAGE_DEFS, so adding a stage is one row (and its activity method)."""

    name: StageName
    # The Temporal activity type that runs it; also its method's name on StageActivities.
    activity: str
    # What the Temporal UI shows beside the stage's activity.
    summary: str
    # Temporal's limit on one attempt: the backstop for a worker that stops answering.
    start_to_close_seconds: float
    # The stage's own, shorter limit on one attempt (GENFLOW_STAGE_ATTEMPT_SECONDS overrides
    # it): it ends an attempt whose worker is alive but whose work runs too long, as the
    # stage's own failure (`stage_timeout`, counted).
    attempt_seconds: float
    # Runs generated code, so it goes to the sandbox task queue.
    sandboxed: bool
    # Share of the overall progress reached when it completes.
    progress: int


# The stages, in the order a generation runs them. Each attempt limit leaves a minute
# under Temporal's, so the stage's own limit ends a slow attempt first.
STAGE_DEFS: tuple[StageDef, ...] = (
    StageDef(
        name=StageName.SCHEMA_EXTRACTION,
        activity="extract_schema",
        summary="extract the project spec from the requirements",
        start_to_close_seconds=300.0,
        attempt_seconds=240.0,
        sandboxed=False,
        progress=20,
    ),
    StageDef(
        name=StageName.CODE_GENERATION,
        activity="generate_code",
        summary="generate the project's files",
        start_to_close_seconds=900.0,
        attempt_seconds=840.0,
        sandboxed=False,
        progress=55,
    ),
    StageDef(
        name=StageName.CODE_REVIEW,
        activity="review_code",
        summary="review: syntax, lint and the project's own tests",
        start_to_close_seconds=600.0,
        attempt_seconds=540.0,
        sandboxed=True,
        progress=85,
    ),
    StageDef(
        name=StageName.DOCUMENTATION,
        activity="write_documentation",
        summary="write the documentation",
        start_to_close_seconds=300.0,
        attempt_seconds=240.0,
        sandboxed=False,
        progress=100,
    ),
)
STAGES: tuple[StageName, ...] = tuple(stage.name for stage in STAGE_DEFS)
_STAGE_BY_NAME = {stage.name: stage for stage in STAGE_DEFS}


def stage_def(name: StageName) -> StageDef:
    """The row of the stage called `name`."""
    return _STAGE_BY_NAME[name]


class EventType(StrEnum):
    STATUS = "status"
    STAGE = "stage"
    PROGRESS = "progress"
    ARTIFACT = "artifact"
    DONE = "done"


WORKFLOW_ID_PREFIX = "gen-"


def workflow_id_for(generation_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{generation_id}"


def sandbox_task_queue(task_queue: str) -> str:
    """The task queue of the sandboxed stages of generations started on `task_queue`."""
    return f"{task_queue}{SANDBOX_QUEUE_SUFFIX}"


def excerpt(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters (ending in an ellipsis if cut)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
