"""The options a generation's workflow started with that have no column of their own
(the approval gate, the webhook, the deadline, the priority). They are kept with the row, in
`generations.options`, so that a retry starts the same way as the generation it reruns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from genflow.contracts import WebhookTarget


@dataclass(frozen=True)
class StartOptions:
    require_approval: bool = False
    webhook_url: str | None = None
    webhook_events: list[str] | None = None
    timeout_seconds: float | None = None
    priority: str | None = None
    max_tokens: int | None = None  # the token budget that applies (see settings)

    @classmethod
    def of(
        cls,
        require_approval: bool,
        webhook: WebhookTarget | None,
        timeout_seconds: float | None,
        priority: str | None = None,
        max_tokens: int | None = None,
    ) -> StartOptions:
        return cls(
            priority=priority,
            max_tokens=max_tokens,
            require_approval=require_approval,
            webhook_url=webhook.url if webhook is not None else None,
            webhook_events=list(webhook.events) if webhook is not None else None,
            timeout_seconds=timeout_seconds,
        )

    def stored(self) -> dict[str, Any]:
        """The value of the `options` column."""
        return asdict(self)

    @classmethod
    def from_stored(cls, value: dict[str, Any] | None) -> StartOptions:
        """The options of a row; the defaults for a row older than the column."""
        if not value:
            return cls()
        known = {name: value[name] for name in cls.__dataclass_fields__ if name in value}
        return cls(**known)
