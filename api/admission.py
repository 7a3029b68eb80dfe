"""What a new generation (create, iterate, retry) must pass before its workflow starts:
the caller's limits, a project of theirs, a webhook URL outside the network."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from genflow.contracts import WebhookTarget
from genflow.db.limits import WINDOW
from genflow.db.models import utcnow
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.settings import Settings
from genflow.webhooks import EVENTS, RefusedAddress, check_url

from .problems import ProblemError

WINDOW_SECONDS = int(WINDOW.total_seconds())


def invalid(field: str, message: str) -> ProblemError:
    """A 422 naming one field of the body."""
    return ProblemError(
        422,
        "The request is invalid.",
        errors=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )


class Admission:
    def __init__(
        self, repository: GenerationRepository, projects: ProjectRepository, settings: Settings
    ) -> None:
        self._repository = repository
        self._projects = projects
        self._settings = settings

    async def enforce_limits(self, user_id: str) -> None:
        """429 with `Retry-After` past the active or the creates-per-minute limit."""
        active = await self._repository.count_active(user_id)
        if active >= self._settings.max_active_per_user:
            raise ProblemError(
                429,
                f"You have {active} active generations; the limit is "
                f"{self._settings.max_active_per_user}.",
                headers={"Retry-After": "5"},
            )
        now = utcnow()
        window = await self._repository.create_window(user_id, now)
        if window.count >= self._settings.max_creates_per_minute:
            wait = window.seconds_until_a_slot_frees(now) if window.oldest else WINDOW_SECONDS
            raise ProblemError(
                429,
                f"At most {self._settings.max_creates_per_minute} generations a minute.",
                headers={"Retry-After": str(max(1, wait))},
            )

    async def webhook_target(
        self, url: str | None, events: Sequence[str] | None
    ) -> WebhookTarget | None:
        """The webhook of a request (default: every event), or 422 for a URL inside
        the network (unless allowed) or events without a URL."""
        if url is None:
            if events is not None:
                raise invalid("webhook_events", "needs a webhook_url")
            return None
        try:
            await asyncio.to_thread(check_url, url, self._settings.webhook_allow_private)
        except RefusedAddress as err:
            raise invalid("webhook_url", str(err)) from err
        return self.delivery_target(url, events)

    def delivery_target(self, url: str, events: Sequence[str] | None) -> WebhookTarget:
        """Where and what to deliver (default: every event), on the configured schedule;
        the URL is checked again before each delivery."""
        return WebhookTarget(
            url=url,
            events=list(events if events is not None else EVENTS),
            schedule_seconds=list(self._settings.webhook_retry_schedule_seconds),
        )

    async def require_project(self, user_id: str, project_id: str) -> None:
        try:
            found = await self._projects.get(uuid.UUID(project_id), user_id)
        except ValueError:
            found = None
        if found is None:
            raise invalid("project_id", "no such project")
