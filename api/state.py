"""The application's state: everything built once, in the lifespan, with its types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from starlette.types import Scope
from temporalio.client import Client

from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.db.statistics import StatisticsRepository
from genflow.db.webhooks import WebhookSecretRepository
from genflow.settings import Settings

if TYPE_CHECKING:
    from .metrics import ApiMetrics
    from .ratelimit import CreateWindows
    from .watching import Watching

STATE_KEY = "genflow"


@dataclass(frozen=True)
class AppState:
    settings: Settings
    repository: GenerationRepository
    projects: ProjectRepository
    statistics: StatisticsRepository
    webhook_secrets: WebhookSecretRepository
    temporal: Client
    metrics: ApiMetrics
    watching: Watching
    windows: CreateWindows


def app_state(connection: HTTPConnection) -> AppState:
    """The state of the app serving `connection` (the lifespan's, per request)."""
    state: AppState = getattr(connection.state, STATE_KEY)
    return state


def scope_state(scope: Scope) -> AppState | None:
    """The same for ASGI middleware, which sees the scope only; None before start-up."""
    state: AppState | None = (scope.get("state") or {}).get(STATE_KEY)
    return state
