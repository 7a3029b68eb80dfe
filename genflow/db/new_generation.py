"""A generation about to be created: the row it becomes and the workflow input that
carries it (the workflow inserts the row again if the API's insert was lost)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import class_mapper

from genflow.contracts import GenerationInput, Requested, StagePolicy, WebhookTarget
from genflow.db.models import Generation, Stage, utcnow
from genflow.db.start_options import StartOptions
from genflow.domain import STAGES, EventType, StageStatus, Status, workflow_id_for

_Mapped = TypeVar("_Mapped")
# Columns whose attribute has another name (`metadata` is taken on a declarative class).
_ATTRIBUTES = {"metadata": "meta"}


@dataclass
class NewGeneration(Requested):
    """Everything needed to insert a generation row; also the workflow's input."""

    id: uuid.UUID
    user_id: str
    prompt: str
    provider: str
    created_at: datetime | None = None
    parent_id: uuid.UUID | None = None
    root_id: uuid.UUID | None = None
    iteration: int = 0
    require_approval: bool = False  # for the workflow only; not a column
    webhook: WebhookTarget | None = None  # for the workflow only; not a column
    timeout_seconds: float | None = None  # for the workflow only; not a column
    retry_of: uuid.UUID | None = None

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(str(self.id))

    def to_workflow_input(
        self, approval_timeout_seconds: float, policy: StagePolicy | None = None
    ) -> GenerationInput:
        """The workflow's input: everything needed to insert this row again."""
        return GenerationInput(
            generation_id=str(self.id),
            user_id=self.user_id,
            prompt=self.prompt,
            provider=self.provider,
            title=self.title,
            project_id=self.project_id,
            template=self.template,
            variables=self.variables,
            model=self.model,
            tags=self.tags,
            metadata=self.metadata,
            priority=self.priority,
            max_tokens=self.max_tokens,
            created_at=self.created_at.isoformat() if self.created_at else None,
            parent_id=str(self.parent_id) if self.parent_id else None,
            root_id=str(self.root_id) if self.root_id else None,
            iteration=self.iteration,
            require_approval=self.require_approval,
            approval_timeout_seconds=approval_timeout_seconds,
            webhook=self.webhook,
            policy=policy or StagePolicy(),
            timeout_seconds=self.timeout_seconds,
            retry_of=str(self.retry_of) if self.retry_of else None,
        )

    @classmethod
    def from_workflow_input(cls, input: GenerationInput) -> NewGeneration:
        """The inverse of `to_workflow_input`."""
        return cls(
            id=uuid.UUID(input.generation_id),
            user_id=input.user_id,
            prompt=input.prompt,
            provider=input.provider,
            title=input.title,
            project_id=input.project_id,
            template=input.template,
            variables=input.variables,
            model=input.model,
            tags=input.tags,
            metadata=input.metadata,
            priority=input.priority,
            max_tokens=input.max_tokens,
            created_at=datetime.fromisoformat(input.created_at) if input.created_at else None,
            parent_id=uuid.UUID(input.parent_id) if input.parent_id else None,
            root_id=uuid.UUID(input.root_id) if input.root_id else None,
            iteration=input.iteration,
            require_approval=input.require_approval,
            webhook=input.webhook,
            timeout_seconds=input.timeout_seconds,
            retry_of=uuid.UUID(input.retry_of) if input.retry_of else None,
        )


def new_generation_row(new: NewGeneration) -> Generation:
    """The row of a generation that has not started yet, as inserted (not added to any
    session): what a create answers without reading the row back."""
    values = new_generation_values(new)
    generation = {
        ("meta" if name == "metadata" else name): v for name, v in values.generation.items()
    }
    stages = [_loaded(Stage, stage) for stage in values.stages]
    return _loaded(Generation, {**generation, "stages": stages, "artifacts": []})


def _loaded(cls: type[_Mapped], values: dict[str, Any]) -> _Mapped:
    """An instance of the mapped `cls` holding `values` as though loaded from the
    database: no events or history, so a tenth of the cost of the constructor. Its
    other attributes read as on any new instance (None, or an empty list)."""
    instance: _Mapped = class_mapper(cls).class_manager.new_instance()
    instance.__dict__.update(values)
    return instance


@dataclass(frozen=True)
class NewRows:
    """The rows a new generation inserts, as column values for core statements."""

    generation: dict[str, Any]
    stages: list[dict[str, Any]]
    first_event: dict[str, Any]


def new_generation_values(new: NewGeneration) -> NewRows:
    """`new_generation_row`'s rows as plain column values (no ORM objects), with the
    first `status` event."""
    created_at = new.created_at or utcnow()
    generation = {
        "id": new.id,
        "user_id": new.user_id,
        "project_id": new.project_id,
        "parent_id": new.parent_id,
        "root_id": new.root_id,
        "iteration": new.iteration,
        "retry_of": new.retry_of,
        "options": StartOptions.of(
            new.require_approval, new.webhook, new.timeout_seconds, new.priority, new.max_tokens
        ).stored(),
        "title": new.title,
        "prompt": new.prompt,
        "template": new.template,
        "variables": new.variables,
        "provider": new.provider,
        "model": new.model,
        "status": Status.PENDING,
        "progress": 0,
        "tags": new.tags,
        "metadata": new.metadata,
        "metrics": {},
        "workflow_id": new.workflow_id,
        "last_event_id": 1,
        "run_epoch": 0,
        "created_at": created_at,
        "updated_at": created_at,
    }
    stages = [
        {
            "generation_id": new.id,
            "name": name,
            "position": i,
            "status": StageStatus.PENDING,
            "attempts": 0,
            "failures": 0,
            # Queued from its creation: the first stage waits in Temporal's queue.
            "queued_at": created_at if i == 0 else None,
        }
        for i, name in enumerate(STAGES)
    ]
    event = {
        "generation_id": new.id,
        "id": 1,
        "key": "status:pending",
        "event": str(EventType.STATUS),
        "data": {"status": Status.PENDING},
        "created_at": created_at,
    }
    return NewRows(generation, stages, event)
