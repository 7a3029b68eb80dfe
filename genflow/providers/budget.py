"""A generation's token budget, spent call by call: every model call asks for at most
what is left (and at most the per-call cap), and nothing is called once it is used up."""

from __future__ import annotations

from dataclasses import dataclass, field

from genflow.providers import ProviderError, Usage

BUDGET_EXCEEDED = "budget_exceeded"


@dataclass
class TokenBudget:
    """`limit` tokens (in and out) for the whole generation, None for no limit; `spent`
    starts at what its earlier stages used."""

    limit: int | None
    spent: int = 0
    used: Usage = field(default_factory=Usage)  # by this stage's calls so far

    def max_tokens(self, per_call: int) -> int:
        """The `max_tokens` of the next call; budget_exceeded when nothing is left."""
        if self.limit is None:
            return per_call
        left = self.limit - self.spent
        if left <= 0:
            raise self._exceeded()
        return min(per_call, left)

    def spend(self, usage: Usage) -> None:
        """Count a call's tokens; budget_exceeded once they pass the limit."""
        self.used += usage
        self.spent += usage.tokens_in + usage.tokens_out
        if self.limit is not None and self.spent > self.limit:
            raise self._exceeded()

    def _exceeded(self) -> ProviderError:
        error = ProviderError(
            BUDGET_EXCEEDED,
            f"the generation used {self.spent} tokens of its budget of {self.limit}; "
            "no further model call is made",
        )
        error.usage = self.used
        return error
