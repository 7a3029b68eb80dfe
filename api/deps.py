"""Dependencies as Annotated aliases; everything built once lives in the lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from genflow.auth import InvalidToken, verify_token
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.db.statistics import StatisticsRepository
from genflow.settings import Settings

from .metrics import ApiMetrics
from .problems import ProblemError
from .service import GenerationService

_bearer = HTTPBearer(auto_error=False, description="A JWT from `genflow token USER`.")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def get_repository(request: Request) -> GenerationRepository:
    repository: GenerationRepository = request.state.repository
    return repository


def get_projects(request: Request) -> ProjectRepository:
    projects: ProjectRepository = request.state.projects
    return projects


def get_statistics(request: Request) -> StatisticsRepository:
    statistics: StatisticsRepository = request.state.statistics
    return statistics


def get_temporal(request: Request) -> Client:
    client: Client = request.state.temporal
    return client


def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
RepositoryDep = Annotated[GenerationRepository, Depends(get_repository)]
ProjectsDep = Annotated[ProjectRepository, Depends(get_projects)]
StatisticsDep = Annotated[StatisticsRepository, Depends(get_statistics)]
TemporalDep = Annotated[Client, Depends(get_temporal)]


def get_service(
    repository: RepositoryDep, projects: ProjectsDep, temporal: TemporalDep, settings: SettingsDep
) -> GenerationService:
    return GenerationService(repository, projects, temporal, settings)


ServiceDep = Annotated[GenerationService, Depends(get_service)]


def current_user(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "A bearer token is required.", headers=unauthorized)
    try:
        return verify_token(credentials.credentials, settings.jwt_secret.get_secret_value())
    except InvalidToken as err:
        raise ProblemError(401, f"Invalid token: {err}.", headers=unauthorized) from err


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
