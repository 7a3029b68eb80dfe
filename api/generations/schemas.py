"""The bodies clients send to create, change, iterate, retry, cancel and decide on a
generation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from genflow.domain import DEFAULT_TEMPLATE, Template
from genflow.fairness import PriorityName
from genflow.webhooks import EVENTS, WebhookEvent

from ..schemas import Tag, Text, TimeoutSeconds, example, json_at_most

LIBRARY = (
    "A library service. Book has title (text, required), author (text) and year "
    "(integer). Member has name (text, required) and email (text, unique)."
)


Tags = Annotated[list[Tag], Field(max_length=20)]
Metadata = Annotated[dict[str, Any], json_at_most(16 * 1024)]


class RunOptions(BaseModel):
    """How a generation runs; create, iterate (not inherited from the parent) and retry
    (copied from the first) take the same."""

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
    priority: PriorityName | None = Field(
        default=None,
        description="`interactive`, `normal` (the default) or `batch`: Temporal dispatches "
        "every task of a higher priority first; within one priority, each user gets a fair "
        "share of the queue",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The generation's token budget (model tokens in and out, all stages); "
        "default and maximum set by the deployment (more counts as the maximum; "
        "`metrics.max_tokens` shows the budget that applies). Past it: `budget_exceeded`.",
    )


class RetryRequest(BaseModel):
    """Optional body of retry: everything else is copied from the generation it reruns."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=example({"priority": "batch"}))

    priority: PriorityName | None = Field(default=None, description="Default: the original's")


class GenerationCreate(RunOptions):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=example(
            {"prompt": LIBRARY, "title": "Library", "tags": ["demo"], "timeout_seconds": 600}
        ),
    )

    prompt: Text = Field(min_length=1, max_length=20_000, description="The requirements.")
    title: Text | None = Field(default=None, max_length=500)
    project_id: Text | None = Field(default=None, min_length=1, max_length=255)
    template: Template | None = Field(
        default=None, description=f"Project template; default {DEFAULT_TEMPLATE}"
    )
    variables: Annotated[dict[str, Any], json_at_most(64 * 1024)] = Field(default_factory=dict)
    provider: Literal["builtin", "openai"] = Field(
        default="builtin",
        description="`builtin` (offline, deterministic) or `openai` (any OpenAI-compatible server)",
    )
    model: Text | None = Field(default=None, max_length=200)
    tags: Tags = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)


class CancelRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra=example({"reason": "Requirements changed"})
    )

    reason: Text | None = Field(default=None, max_length=1000)


class DecisionRequest(BaseModel):
    """Body of approve and reject."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=example({"reason": "The spec looks right"})
    )

    reason: Text | None = Field(default=None, max_length=1000)


class GenerationUpdate(BaseModel):
    """Only these three fields can change after creation."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=example({"title": "Library v2", "tags": ["demo", "v2"]})
    )

    title: Text | None = Field(default=None, max_length=500)
    # Not nullable: send [] or {} to clear them (a missing field is left as it is).
    tags: Tags = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)


class IterationCreate(RunOptions):
    """A new generation built on a completed one: its spec and files are the base."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=example({"prompt": "Loan has due_on (date, required)."})
    )

    prompt: Text = Field(min_length=1, max_length=20_000, description="What to change.")
    title: Text | None = Field(default=None, max_length=500)
    template: Template | None = None
    variables: Annotated[dict[str, Any], json_at_most(64 * 1024)] | None = None
    provider: Literal["builtin", "openai"] | None = Field(
        default=None, description="Default: the parent's"
    )
    model: Text | None = Field(default=None, max_length=200, description="Default: the parent's")
    tags: Tags = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
