"""A generation about to be created: the row it becomes and the workflow input that
carries it (the workflow inserts the row again if the API's insert was lost)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar, get_type_hints

from sqlalchemy.orm import class_mapper

from genflow.contracts import GenerationInput, Requested, StagePolicy
from genflow.db.models import Generation, Stage, utcnow
from genflow.db.start_options import StartOptions
from genflow.domain import STAGES, EventType, StageStatus, Status, workflow_id_for

_Mapped = TypeVar("_Mapped")
# Columns whose attribute has another name (`metadata` is taken on a declarative class).
_ATTRIBUTES = {"metadata": "meta"}
# The one field named otherwise in the workflow's input.
_INPUT_NAMES = {"id": "generation_id"}


@dataclass
class NewGeneration(Requested):
    """Everything needed to insert a generation row; also the workflow's input. Its
    fields are the workflow input's, by name (`id` is `generation_id`), ids and times
    typed here and text there: `to_workflow_input` and `from_workflow_input` copy every
    field, so a field added to both (or to `Requested`) needs no edit here."""

    id: uuid.UUID
    user_id: str
    prompt: str
    provider: str
    created_at: datetime | None = None
    parent_id: uuid.UUID | None = None
    root_id: uuid.UUID | None = None
    iteration: int = 0
    retry_of: uuid.UUID | None = None

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(str(self.id))

    def to_workflow_input(
        self, approval_timeout_seconds: float, policy: StagePolicy | None = None
    ) -> GenerationInput:
        """The workflow's input: everything needed to insert this row again."""
        return GenerationInput(
            **{
                _INPUT_NAMES.get(f.name, f.name): _as_text(getattr(self, f.name))
                for f in fields(self)
            },
            approval_timeout_seconds=approval_timeout_seconds,
            policy=policy or StagePolicy(),
        )

    @classmethod
    def from_workflow_input(cls, input: GenerationInput) -> NewGeneration:
        """The inverse of `to_workflow_input`."""
        values = {f.name: getattr(input, _INPUT_NAMES.get(f.name, f.name)) for f in fields(cls)}
        for name, parse in _PARSERS.items():
            values[name] = parse(values[name]) if values[name] else None
        return cls(**values)


def _as_text(value: Any) -> Any:
    """An id or a time as the workflow's input holds it (JSON text); others unchanged."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _parsers() -> dict[str, Callable[[str], Any]]:
    """How each id and time field of `NewGeneration` reads back from its text."""
    parsers: dict[str, Callable[[str], Any]] = {}
    for name, hint in get_type_hints(NewGeneration).items():
        if uuid.UUID in (hint, *getattr(hint, "__args__", ())):
            parsers[name] = uuid.UUID
        elif datetime in (hint, *getattr(hint, "__args__", ())):
            parsers[name] = datetime.fromisoformat
    return parsers


_PARSERS = _parsers()


def new_generation_row(new: NewGeneration) -> Generation:
    """The row of a generation that has not started yet, as inserted (not added to any
    session): what a create answers without reading the row back."""
    values = new_generation_values(new)
    generation = {_ATTRIBUTES.get(name, name): v for name, v in values.generation.items()}
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
