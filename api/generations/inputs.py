"""Where a request becomes a new generation: from a create's body, from an iteration's
body and its parent, or from a failed generation being retried. The service checks the
request first; these only say which field comes from where."""

from __future__ import annotations

import uuid

from genflow.contracts import WebhookTarget
from genflow.db.models import Generation
from genflow.db.repository import NewGeneration
from genflow.db.start_options import StartOptions

from .schemas import GenerationCreate, IterationCreate


def created(
    user_id: str, body: GenerationCreate, webhook: WebhookTarget | None, max_tokens: int
) -> NewGeneration:
    return NewGeneration(
        id=uuid.uuid4(),
        user_id=user_id,
        prompt=body.prompt,
        provider=body.provider,
        title=body.title,
        project_id=body.project_id,
        template=body.template,
        variables=body.variables,
        model=body.model,
        tags=body.tags,
        metadata=body.metadata,
        require_approval=body.require_approval,
        webhook=webhook,
        timeout_seconds=body.timeout_seconds,
        priority=body.priority,
        max_tokens=max_tokens,
    )


def iterated(
    parent: Generation, body: IterationCreate, webhook: WebhookTarget | None, max_tokens: int
) -> NewGeneration:
    """The parent's provider, model, title, template and variables unless the body says
    otherwise; the same project, the next iteration of the same chain."""
    return NewGeneration(
        id=uuid.uuid4(),
        user_id=parent.user_id,
        prompt=body.prompt,
        provider=body.provider or parent.provider,
        title=body.title or parent.title,
        project_id=parent.project_id,
        template=body.template or parent.template,
        variables=body.variables if body.variables is not None else parent.variables,
        model=body.model or parent.model,
        tags=body.tags,
        metadata=body.metadata,
        parent_id=parent.id,
        root_id=parent.root_id or parent.id,
        iteration=parent.iteration + 1,
        require_approval=body.require_approval,
        webhook=webhook,
        timeout_seconds=body.timeout_seconds,
        priority=body.priority,
        max_tokens=max_tokens,
    )


def retried(
    first: Generation,
    options: StartOptions,
    webhook: WebhookTarget | None,
    priority: str | None,
    max_tokens: int,
) -> NewGeneration:
    """The same input and options as `first`, linked to it by `retry_of`; a priority
    given with the retry replaces the one it started with."""
    return NewGeneration(
        id=uuid.uuid4(),
        user_id=first.user_id,
        prompt=first.prompt,
        provider=first.provider,
        title=first.title,
        project_id=first.project_id,
        template=first.template,
        variables=first.variables,
        model=first.model,
        tags=list(first.tags),
        metadata=dict(first.meta),
        parent_id=first.parent_id,
        root_id=first.root_id,
        iteration=first.iteration,
        require_approval=options.require_approval,
        webhook=webhook,
        timeout_seconds=options.timeout_seconds,
        priority=priority or options.priority,
        max_tokens=max_tokens,
        retry_of=first.id,
    )
