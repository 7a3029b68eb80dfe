"""What the `openai` provider asks a model, and how it reads the replies: the system
prompts, the user prompts built from a request or a spec, and the parsing of a spec,
a file plan and a file out of a reply."""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, Field

from genflow.files import FileOut, safe_path
from genflow.pipeline.spec import DEFAULT_TEMPLATE, TEMPLATES, ProjectSpec, dependency_order, snake
from genflow.pipeline.spec_check import spec_problems
from genflow.providers import SpecRequest

MAX_FILES = 40
"""The most files one plan may hold."""
CONTEXT_CHARS = 48_000
"""How much of the files already written goes into the prompt of the next one."""
# Paths other stages own: a model's version would be overwritten, so it is not asked for.
RESERVED_PATHS = {"spec.json", "changes.json", "README.md", "docs/API.md"}
RESERVED_DIRS = ("review/",)
# What the builtin provider reports about a request; not carried into an iteration.
REQUEST_REPORTS = {"not_understood", "unused_variables"}
_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.S)
_FENCED = re.compile(r"^\s*```[^\n`]*\n(?P<body>.*?)\n?```\s*$", re.S)

SPEC_SYSTEM = f"""\
You turn a software project's requirements into a spec for a small Python project.
Reply with exactly one JSON object that matches the ProjectSpec JSON schema, nothing else.
- name: the project's Python package name, snake_case.
- description: one sentence saying what the project is.
- template: one of {", ".join(TEMPLATES)}.
- entities: at least one; names in PascalCase, each with at least one field.
- fields: snake_case names; type one of str, int, float, decimal, bool, date, datetime,
  enum (with its choices, at least two snake_case words) or ref (with `ref` naming
  another entity of the spec); required and unique as the requirements say;
  minimum and maximum for a number's bounds; label for the words the requirements
  used when they are not the name; description for a unit or meaning.
- operations: short phrases for what the project does with its entities.
- notes: requirements that fit nowhere else.
- not_understood: each sentence of the requirements you could not turn into the spec,
  quoted; empty when you used every one.
- unused_variables: the names of variables the spec does not use."""

PLAN_SYSTEM = """\
You plan the files of a small Python project from its spec. Reply with exactly one JSON
object {"files": [{"path": ..., "kind": "source" | "test", "purpose": ...}]}, nothing else.
- Paths are relative POSIX paths inside the project, without "..".
- The package is a directory named after the spec's name, with an __init__.py; include a
  pyproject.toml; tests are pytest files under tests/ (kind "test"), everything else is
  kind "source".
- Use only the Python 3.11 standard library in the package, and pytest in the tests.
- Do not list README.md, docs/, spec.json or review/: genflow writes those itself.
- Keep it small: at most {max_files} files."""

FILE_SYSTEM = """\
You are a senior Python engineer writing one file of a project. Reply with only the
complete content of that file: no explanation, no Markdown fences.
The package uses only the Python 3.11 standard library; its tests use pytest and are
run with `python -m pytest` from the project's root directory, so they import the
package by its name. pyproject.toml declares pytest in [project.optional-dependencies]
test: the tests run with only what it declares. Public functions and classes have
docstrings. Every test passes."""


class PlannedFile(BaseModel):
    path: str
    kind: Literal["source", "test"]
    purpose: str = ""


class FilePlan(BaseModel):
    files: list[PlannedFile] = Field(min_length=1)


def spec_prompt(request: SpecRequest) -> str:
    template = request.template or (
        request.base.template
        if request.base is not None
        else f"choose the best fit (default {DEFAULT_TEMPLATE})"
    )
    lines = [f"Requirements:\n{request.prompt}", "", f"Template: {template}"]
    if request.variables:
        lines += [
            "",
            "Variables (JSON; if `name` is given, it is the project's name):",
            json.dumps(request.variables, indent=2, default=str),
        ]
    if request.base is not None:
        lines += [
            "",
            "This is an iteration of an existing project whose current spec is:",
            request.base.model_dump_json(indent=2, exclude=REQUEST_REPORTS),
            "",
            "Apply the requirements above as changes to that spec: keep everything they do "
            "not change (name, entities, fields, notes); add, change, rename or remove only "
            "what they ask for. Reply with the complete new spec.",
        ]
    return "\n".join(lines)


def file_prompt(
    spec_json: str, plan: FilePlan, planned: PlannedFile, written: list[FileOut]
) -> str:
    listing = "\n".join(f"- {f.path} ({f.kind}): {f.purpose}" for f in plan.files)
    context: list[str] = []
    budget = CONTEXT_CHARS
    for file in written:
        text = file.content.decode(errors="replace")
        if len(text) > budget:
            context.append(f"### {file.path}\n(not shown)")
            continue
        budget -= len(text)
        context.append(f"### {file.path}\n{text}")
    parts = [f"The project's spec:\n{spec_json}", f"The project's files:\n{listing}"]
    if context:
        parts.append("Files already written:\n" + "\n\n".join(context))
    parts.append(
        f"Path: {planned.path}\nKind: {planned.kind}\nPurpose: {planned.purpose}\n"
        f"Write the complete content of {planned.path}."
    )
    return "\n\n".join(parts)


def _json_text(text: str) -> str:
    """The JSON object in a reply: without a reasoning model's <think> block, Markdown
    fences or words around it."""
    text = strip_fences(text).strip()
    start, end = text.find("{"), text.rfind("}")
    if not text.startswith("{") and 0 <= start < end:
        return text[start : end + 1]
    return text


def strip_fences(text: str) -> str:
    """A file's content without the ``` fences (and a <think> block) a model may add."""
    text = _THINK.sub("", text, count=1)
    match = _FENCED.match(text)
    return match["body"] if match else text


def parse_spec(text: str, request: SpecRequest) -> ProjectSpec:
    spec = ProjectSpec.model_validate_json(_json_text(text))
    problems = spec_problems(spec)
    if problems:
        raise ValueError("; ".join(problems))
    name = snake(spec.name)
    if not name or not name[0].isalpha():
        name = f"project_{name}".strip("_")
    spec.name = name
    if request.template is not None:
        spec.template = request.template
    elif spec.template not in TEMPLATES:
        spec.template = request.base.template if request.base is not None else DEFAULT_TEMPLATE
    if not spec.operations:
        spec.operations = [
            f"create, get, list, update and delete {e.name}" for e in dependency_order(spec)
        ]
    return spec


def parse_plan(text: str) -> FilePlan:
    plan = FilePlan.model_validate_json(_json_text(text))
    files: list[PlannedFile] = []
    seen: set[str] = set()
    for planned in plan.files:
        path = safe_path(planned.path)
        if path in RESERVED_PATHS or path.startswith(RESERVED_DIRS):
            continue  # genflow writes it
        if path in seen:
            raise ValueError(f"{path} is listed twice")
        seen.add(path)
        files.append(planned.model_copy(update={"path": path}))
    if not files:
        raise ValueError("the plan lists no file of the project's code")
    if len(files) > MAX_FILES:
        raise ValueError(f"the plan lists {len(files)} files; at most {MAX_FILES}")
    return FilePlan(files=files)
