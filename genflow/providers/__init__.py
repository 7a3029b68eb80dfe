"""Model providers: turn requirements into a spec and a spec into files.

`builtin` is offline and deterministic; `openai` talks to any OpenAI-compatible Chat
Completions server. Both implement `Provider`; the stage activities pick one by the
generation's `provider` field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from genflow.files import FileOut
from genflow.pipeline.spec import ProjectSpec

if TYPE_CHECKING:
    from typing import TypeAlias

    from genflow.providers.budget import TokenBudget

    Budget: TypeAlias = TokenBudget | None
    """The tokens a generation may still spend; None: no limit."""

Heartbeat = Callable[[], None]
"""Called by a provider whenever it makes progress (each streamed chunk), so the
activity heartbeats and a cancel reaches it."""


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.tokens_in + other.tokens_in, self.tokens_out + other.tokens_out)


@dataclass(frozen=True)
class SpecRequest:
    prompt: str
    template: str | None
    variables: dict[str, object]
    model: str | None
    base: ProjectSpec | None = None  # the parent's spec, for an iteration


class ProviderError(Exception):
    """A failure a retry cannot fix (bad request, invalid output): fails the generation."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.usage: Usage | None = None  # the tokens spent before it, if known


class Provider(Protocol):
    async def extract_spec(
        self, request: SpecRequest, heartbeat: Heartbeat, budget: Budget = None
    ) -> tuple[ProjectSpec, list[str], Usage]:
        """The spec, the changes made to `request.base` (empty for a first
        generation) and the tokens used. Raises ProviderError or BadRequirements for
        what no retry can fix; any other exception is transient."""
        ...

    async def generate_files(
        self, spec: ProjectSpec, model: str | None, heartbeat: Heartbeat, budget: Budget = None
    ) -> tuple[list[FileOut], Usage]:
        """The project's source and test files. A provider that calls a model spends
        `budget` call by call (ProviderError `budget_exceeded` past it)."""
        ...
