"""The generation service as a FastAPI dependency: built per request over what the app
made once (its state), so the use cases in service.py know nothing of HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ..state import AppState, app_state
from .service import GenerationService

if TYPE_CHECKING:
    from genflow.webhooks import Resolver


def service_of(state: AppState, resolver: Resolver | None = None) -> GenerationService:
    """The service over what the app built once; `resolver` replaces the process's
    resolver of webhook hosts."""
    return GenerationService(
        state.repository,
        state.projects,
        state.temporal,
        state.settings,
        state.windows,
        resolver=resolver,
        statistics=state.statistics,
        metrics=state.metrics,
    )


async def get_service(request: Request) -> GenerationService:
    return service_of(app_state(request))


ServiceDep = Annotated[GenerationService, Depends(get_service)]
