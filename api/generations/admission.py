"""What a new generation (create, iterate, retry) must pass before its workflow starts:
the caller's limits, a project of theirs, a webhook URL outside the network."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache

from genflow.contracts import WebhookTarget
from genflow.db.limits import WINDOW, CreateWindow, Standing, standing_of
from genflow.db.models import utcnow
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.db.usage import next_midnight
from genflow.settings import Settings
from genflow.webhooks import EVENTS, RefusedAddress, Resolver, SystemResolver, WebhookAddresses

from ..problems import ProblemError, invalid
from ..ratelimit import CreateWindows

WINDOW_SECONDS = int(WINDOW.total_seconds())


@cache
def system_resolver(threads: int, timeout_seconds: float) -> SystemResolver:
    """The process's resolver of webhook hosts (services are built per request; its
    threads are not)."""
    return SystemResolver(threads, timeout_seconds)


class Admission:
    def __init__(
        self,
        repository: GenerationRepository,
        projects: ProjectRepository,
        settings: Settings,
        windows: CreateWindows,
        resolver: Resolver | None = None,
    ) -> None:
        """`resolver`: of webhook hosts; by default the process's, per the settings."""
        self._repository = repository
        self._projects = projects
        self._settings = settings
        self._windows = windows
        resolver = resolver or system_resolver(
            settings.webhook_resolvers, settings.webhook_resolve_seconds
        )
        self._webhook_addresses = WebhookAddresses.from_settings(settings, resolver)

    def spending(self, provider: str, model: str | None, max_tokens: int | None) -> int:
        """The token budget of a new generation, after checking that the deployment
        offers its provider and model (422 naming what it offers). A budget asked for
        above the deployment's maximum is lowered to it (`metrics.max_tokens` shows the
        budget that applies), as a `Prefer: wait` above 60 counts as 60."""
        offered = self._settings.models_allowed
        listing = "; ".join(
            f"{name}: {', '.join(models) if '*' not in models else 'any model'}"
            for name, models in sorted(offered.items())
        )
        if provider not in offered:
            raise invalid(
                "body", "provider", f"{provider!r} is not offered here; offered: {listing}"
            )
        models = offered[provider]
        chosen = model or (self._settings.openai_model if provider == "openai" else None)
        if "*" not in models and chosen not in models:
            raise invalid(
                "body", "model", f"{chosen!r} is not offered for {provider}; offered: {listing}"
            )
        return min(
            max_tokens or self._settings.generation_token_budget,
            self._settings.generation_token_budget_max,
        )

    async def enforce_limits(self, user_id: str) -> None:
        """429 with `Retry-After` past the active or the creates-per-minute limit, or
        the daily token quota. One read of the read model (another replica may have
        created too); its create window is kept for the `RateLimit-*` fields."""
        now = utcnow()
        standing: Standing | None = None

        async def read_window() -> CreateWindow:
            nonlocal standing
            standing = await standing_of(self._repository.session_maker, user_id, now)
            return standing.window

        window = await self._windows.read(user_id, read_window)
        assert standing is not None
        if standing.active >= self._settings.max_active_per_user:
            raise ProblemError(
                429,
                f"You have {standing.active} active generations; the limit is "
                f"{self._settings.max_active_per_user}.",
                headers={"Retry-After": "5"},
            )
        if window.count >= self._settings.max_creates_per_minute:
            wait = window.seconds_until_a_slot_frees(now) if window.oldest else WINDOW_SECONDS
            raise ProblemError(
                429,
                f"At most {self._settings.max_creates_per_minute} generations a minute.",
                headers={"Retry-After": str(max(1, wait))},
            )
        quota = self._settings.daily_token_quota_per_user
        if quota and standing.tokens_today >= quota:
            until = int((next_midnight(now) - now).total_seconds()) + 1
            raise ProblemError(
                429,
                f"You used {standing.tokens_today} model tokens today, your daily quota of "
                f"{quota}; it resets at midnight UTC.",
                headers={"Retry-After": str(until)},
            )

    def webhook_target(self, url: str | None, events: Sequence[str] | None) -> WebhookTarget | None:
        """The webhook of a request (default: every event), or 422 for a URL that is not
        http(s) or names a port not allowed, or events without a URL. No DNS: where
        the host resolves is `check_webhook_address`, once the caller is within limits."""
        if url is None:
            if events is not None:
                raise invalid("body", "webhook_events", "needs a webhook_url")
            return None
        try:
            self._webhook_addresses.parse(url)
        except RefusedAddress as err:
            raise invalid("body", "webhook_url", str(err)) from err
        return self.delivery_target(url, events)

    async def check_webhook_address(self, url: str) -> None:
        """422 unless the webhook host resolves (in time), and only to addresses outside
        the network (unless allowed)."""
        try:
            await self._webhook_addresses.pin(url)
        except RefusedAddress as err:
            raise invalid("body", "webhook_url", str(err)) from err

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
            raise invalid("body", "project_id", "no such project")
