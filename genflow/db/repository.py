"""All SQL of the generations' read model, as one repository. Each public method is one
transaction.

Writes are idempotent: events carry a `key` unique per generation, artifacts are
unique per path, and stage/status updates are plain overwrites, so an activity that
is retried or replayed never duplicates anything. The methods live by job in
`reads`, `requests` (the API's writes) and `transitions` (the pipeline's writes).
"""

from __future__ import annotations

from genflow.db.base import dialect_of
from genflow.db.new_generation import NewGeneration, new_generation_row
from genflow.db.reads import ActiveRow, GenerationReads
from genflow.db.requests import ApiWrites
from genflow.db.transitions import PipelineTransitions
from genflow.files import FileOut

__all__ = [
    "ActiveRow",
    "FileOut",
    "GenerationRepository",
    "NewGeneration",
    "dialect_of",
    "new_generation_row",
]


class GenerationRepository(GenerationReads, ApiWrites, PipelineTransitions):
    """The read model's use cases, over a session maker built once per process."""
