"""The builtin provider: the requirements language and the Jinja2 templates, offline."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from genflow.files import FileOut
from genflow.pipeline.spec import (
    ProjectSpec,
    extend_requirements,
    parse_requirements,
    project_name,
)
from genflow.pipeline.templates import render_project
from genflow.providers import Heartbeat, SpecRequest, Usage

if TYPE_CHECKING:
    from genflow.providers import Budget


class BuiltinProvider:
    async def extract_spec(
        self, request: SpecRequest, heartbeat: Heartbeat, budget: Budget = None
    ) -> tuple[ProjectSpec, list[str], Usage]:
        """`read_spec` in a thread: the stage's event loop keeps heartbeating."""
        return await asyncio.to_thread(read_spec, request)

    async def generate_files(
        self, spec: ProjectSpec, model: str | None, heartbeat: Heartbeat, budget: Budget = None
    ) -> tuple[list[FileOut], Usage]:
        return await asyncio.to_thread(render_project, spec), Usage()


def read_spec(request: SpecRequest) -> tuple[ProjectSpec, list[str], Usage]:
    """The spec read from the prompt in the builtin requirements language. Of the
    request's variables only a string `name` is read (the project's name; an
    iteration keeps its parent's, so there a different `name` is unused): the
    others are listed in `unused_variables`, as no template reads variables."""
    name = request.variables.get("name")
    name = name if isinstance(name, str) else None
    changes: list[str] = []
    if request.base is not None:
        spec, changes = extend_requirements(request.base, request.prompt, request.template)
        if name is not None and project_name(name) != spec.name:
            name = None
    else:
        spec = parse_requirements(request.prompt, name=name, template=request.template)
    spec.unused_variables = [key for key in request.variables if key != "name" or name is None]
    return spec, changes, Usage()
