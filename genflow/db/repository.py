"""All SQL of the generations' read model, as one repository. Each public method is one
transaction.

Writes are idempotent: events carry a `key` unique per generation, artifacts are
unique per path, and stage/status updates are plain overwrites, so an activity that
is retried or replayed never duplicates anything. The methods live by what they do:
`reads`, `creation` (a generation's row and its stored input), `edits` (title, tags,
metadata, delete), `idempotency` (the keys of creates), `status_transitions` and
`stage_transitions`.
"""

from __future__ import annotations

from genflow.db.base import dialect_of
from genflow.db.creation import GenerationCreation
from genflow.db.edits import GenerationEdits
from genflow.db.idempotency import IdempotencyKeys
from genflow.db.new_generation import NewGeneration, new_generation_row
from genflow.db.reads import ActiveRow, GenerationReads
from genflow.db.stage_transitions import StageTransitions
from genflow.db.status_transitions import StatusTransitions
from genflow.files import FileOut

__all__ = [
    "ActiveRow",
    "FileOut",
    "GenerationRepository",
    "NewGeneration",
    "dialect_of",
    "new_generation_row",
]


class GenerationRepository(
    GenerationReads,
    GenerationCreation,
    GenerationEdits,
    IdempotencyKeys,
    StatusTransitions,
    StageTransitions,
):
    """The read model's use cases, over a session maker built once per process."""
