"""Names shared by the API, the workflow and the activities. Pure: safe in workflow code."""

from __future__ import annotations

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


STAGES: tuple[StageName, ...] = tuple(StageName)
# The Temporal activity type that runs each stage.
STAGE_ACTIVITY_TYPES: dict[StageName, str] = {
    StageName.SCHEMA_EXTRACTION: "extract_schema",
    StageName.CODE_GENERATION: "generate_code",
    StageName.CODE_REVIEW: "review_code",
    StageName.DOCUMENTATION: "write_documentation",
}

# Share of the overall progress reached when each stage completes.
STAGE_PROGRESS: dict[StageName, int] = {
    StageName.SCHEMA_EXTRACTION: 20,
    StageName.CODE_GENERATION: 55,
    StageName.CODE_REVIEW: 85,
    StageName.DOCUMENTATION: 100,
}

# Time limits of one attempt of each stage, in seconds. Temporal's start-to-close is the
# backstop for a worker that stops answering; inside it, the stage's own limit (shorter,
# configurable: GENFLOW_STAGE_ATTEMPT_SECONDS) ends an attempt whose worker is alive but
# whose work runs too long, as the stage's own failure (`stage_timeout`, counted).
STAGE_START_TO_CLOSE_SECONDS: dict[StageName, float] = {
    StageName.SCHEMA_EXTRACTION: 300.0,
    StageName.CODE_GENERATION: 900.0,
    StageName.CODE_REVIEW: 600.0,
    StageName.DOCUMENTATION: 300.0,
}
STAGE_ATTEMPT_SECONDS: dict[StageName, float] = {
    stage: seconds - 60.0 for stage, seconds in STAGE_START_TO_CLOSE_SECONDS.items()
}


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
