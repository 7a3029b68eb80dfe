"""Dependencies as Annotated aliases; everything built once lives in the lifespan state."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, get_type_hints

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer
from temporalio.client import Client

from genflow.auth import InvalidToken
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.db.statistics import StatisticsRepository
from genflow.db.webhooks import WebhookSecretRepository
from genflow.settings import Settings

from .bearer import MissingToken, bearer_user
from .metrics import ApiMetrics
from .problems import ProblemError
from .state import app_state
from .watching import Watching

T = TypeVar("T")


def built_inline(cls: type[T]) -> Callable[..., Awaitable[T]]:
    """`cls` as a dependency FastAPI calls on the event loop: a class (like any plain
    function) would be built in a worker thread, a thread hand-off per request. The
    coroutine takes the parameters of `cls.__init__`, resolved."""
    hints = get_type_hints(cls.__init__, include_extras=True)
    signature = inspect.signature(cls.__init__)
    parameters = [
        parameter.replace(annotation=hints.get(name, parameter.annotation))
        for name, parameter in list(signature.parameters.items())[1:]
    ]

    async def build(**values: Any) -> T:
        return cls(**values)

    build.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=cls
    )
    return build


async def get_settings(request: Request) -> Settings:
    return app_state(request).settings


async def get_repository(request: Request) -> GenerationRepository:
    return app_state(request).repository


async def get_projects(request: Request) -> ProjectRepository:
    return app_state(request).projects


async def get_statistics(request: Request) -> StatisticsRepository:
    return app_state(request).statistics


async def get_webhook_secrets(request: Request) -> WebhookSecretRepository:
    return app_state(request).webhook_secrets


async def get_temporal(request: Request) -> Client:
    return app_state(request).temporal


async def get_metrics(request: Request) -> ApiMetrics:
    return app_state(request).metrics


async def get_watching(request: Request) -> Watching:
    return app_state(request).watching


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
WatchingDep = Annotated[Watching, Depends(get_watching)]
RepositoryDep = Annotated[GenerationRepository, Depends(get_repository)]
ProjectsDep = Annotated[ProjectRepository, Depends(get_projects)]
StatisticsDep = Annotated[StatisticsRepository, Depends(get_statistics)]
WebhookSecretsDep = Annotated[WebhookSecretRepository, Depends(get_webhook_secrets)]
TemporalDep = Annotated[Client, Depends(get_temporal)]


class BearerUser(HTTPBearer):
    """The bearer scheme of the OpenAPI document, and the check itself: the user id of
    the request's valid token (verified once per request, `bearer_user`), else 401. One
    dependency without sub-dependencies: every authenticated request solves it."""

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        unauthorized = {"WWW-Authenticate": "Bearer"}
        try:
            return bearer_user(request.scope, app_state(request).settings)
        except MissingToken as err:
            raise ProblemError(401, "A bearer token is required.", headers=unauthorized) from err
        except InvalidToken as err:
            raise ProblemError(401, f"Invalid token: {err}.", headers=unauthorized) from err


current_user = BearerUser(
    scheme_name="HTTPBearer",
    auto_error=False,
    description="A JWT from `genflow token USER`.",
)
CurrentUser = Annotated[str, Depends(current_user)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same key and body within 24 h: the same generation, no second workflow.",
    ),
]
