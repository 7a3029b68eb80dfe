"""The builtin provider: the requirements language and the Jinja2 templates, offline."""

from __future__ import annotations

from genflow.db.repository import FileOut
from genflow.pipeline.spec import ProjectSpec, extend_requirements, parse_requirements
from genflow.pipeline.templates import render_project
from genflow.providers import Heartbeat, SpecRequest, Usage


class BuiltinProvider:
    async def extract_spec(
        self, request: SpecRequest, heartbeat: Heartbeat
    ) -> tuple[ProjectSpec, list[str], Usage]:
        if request.base is not None:
            spec, changes = extend_requirements(request.base, request.prompt)
            if request.template:
                spec.template = request.template
            return spec, changes, Usage()
        name = request.variables.get("name")
        spec = parse_requirements(
            request.prompt, name=name if isinstance(name, str) else None, template=request.template
        )
        return spec, [], Usage()

    async def generate_files(
        self, spec: ProjectSpec, model: str | None, heartbeat: Heartbeat
    ) -> tuple[list[FileOut], Usage]:
        return render_project(spec), Usage()
