"""The `openai` provider: any OpenAI-compatible Chat Completions server (OpenAI, vLLM,
Ollama, llama.cpp) through the official `openai` SDK.

- The spec comes from one streamed completion constrained by the ProjectSpec JSON
  schema (`response_format` json_schema). Output that does not validate gets exactly
  one repair attempt (the bad output and the error go back to the model); a second
  failure is `invalid_model_output`.
- Files come one by one: a JSON plan of paths (each "source" or "test"), then one
  streamed completion per file.
- Every streamed chunk calls `heartbeat()`, so a cancel reaches the activity while
  tokens stream; the token counts come from the servers' usage chunks.
- The SDK never retries (`max_retries=0`): rate limits, 5xx, timeouts and connection
  errors propagate and Temporal retries the stage with backoff. Any other 4xx is a
  request no retry can fix: `ProviderError("provider_rejected")`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import BaseModel, Field, ValidationError

from genflow.files import FileOut, media_type, safe_path
from genflow.pipeline.spec import (
    DEFAULT_TEMPLATE,
    TEMPLATES,
    BadRequirements,
    ProjectSpec,
    dependency_order,
    snake,
)
from genflow.providers import Heartbeat, ProviderError, SpecRequest, Usage
from genflow.settings import Settings

T = TypeVar("T")

MAX_FILES = 40
"""The most files one plan may hold."""
CONTEXT_CHARS = 48_000
"""How much of the files already written goes into the prompt of the next one."""
ERROR_CHARS = 2_000
# Paths other stages own: a model's version would be overwritten, so it is not asked for.
RESERVED_PATHS = {"spec.json", "changes.json", "README.md", "docs/API.md"}
RESERVED_DIRS = ("review/",)
# 408 and 409 are transient too (the SDK itself would retry them); other 4xx are not.
TRANSIENT_4XX = {408, 409, 429}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
  another entity of the spec); required and unique as the requirements say.
- operations: short phrases for what the project does with its entities.
- notes: requirements that fit nowhere else."""

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
package by its name. Public functions and classes have docstrings. Every test passes."""


class PlannedFile(BaseModel):
    path: str
    kind: Literal["source", "test"]
    purpose: str = ""


class FilePlan(BaseModel):
    files: list[PlannedFile] = Field(min_length=1)


@dataclass
class Completion:
    text: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)


class OpenAICompatibleProvider:
    """The Provider protocol over an OpenAI-compatible Chat Completions server."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        timeout_seconds: float,
        *,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self._model = model
        self._client = client or openai.AsyncOpenAI(
            base_url=base_url,
            # Local servers (Ollama, llama.cpp, vLLM) need no key, but the SDK
            # refuses an empty one.
            api_key=api_key or "no-key",
            timeout=timeout_seconds,
            max_retries=0,  # retries belong to Temporal
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatibleProvider:
        return cls(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.openai_model,
            settings.openai_timeout_seconds,
        )

    async def close(self) -> None:
        await self._client.close()

    # -- the spec -----------------------------------------------------------------

    async def extract_spec(
        self, request: SpecRequest, heartbeat: Heartbeat
    ) -> tuple[ProjectSpec, list[str], Usage]:
        if request.template is not None and request.template not in TEMPLATES:
            raise BadRequirements(
                f'unknown template "{request.template}"; known: {", ".join(TEMPLATES)}'
            )
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SPEC_SYSTEM},
            {"role": "user", "content": _spec_prompt(request)},
        ]
        spec, usage = await self._structured(
            request.model or self._model,
            messages,
            "ProjectSpec",
            ProjectSpec.model_json_schema(),
            lambda text: _parse_spec(text, request),
            heartbeat,
        )
        changes = spec_changes(request.base, spec) if request.base is not None else []
        return spec, changes, usage

    # -- the files ----------------------------------------------------------------

    async def generate_files(
        self, spec: ProjectSpec, model: str | None, heartbeat: Heartbeat
    ) -> tuple[list[FileOut], Usage]:
        model = model or self._model
        spec_json = spec.model_dump_json(indent=2)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": PLAN_SYSTEM.replace("{max_files}", str(MAX_FILES))},
            {"role": "user", "content": f"The project's spec:\n{spec_json}"},
        ]
        plan, usage = await self._structured(
            model, messages, "FilePlan", FilePlan.model_json_schema(), _parse_plan, heartbeat
        )
        files: list[FileOut] = []
        for planned in plan.files:
            file_messages: list[ChatCompletionMessageParam] = [
                {"role": "system", "content": FILE_SYSTEM},
                {"role": "user", "content": _file_prompt(spec_json, plan, planned, files)},
            ]
            completion = await self._stream(model, file_messages, heartbeat)
            usage += completion.usage
            if completion.finish_reason == "length":
                raise ProviderError(
                    "invalid_model_output",
                    f"the model's {planned.path} was cut off at its output token limit",
                )
            content = strip_fences(completion.text)
            if content and not content.endswith("\n"):
                content += "\n"
            files.append(
                FileOut(planned.path, planned.kind, content.encode(), media_type(planned.path))
            )
        return files, usage

    # -- completions ----------------------------------------------------------------

    async def _structured(
        self,
        model: str,
        messages: list[ChatCompletionMessageParam],
        name: str,
        schema: dict[str, Any],
        parse: Callable[[str], T],
        heartbeat: Heartbeat,
    ) -> tuple[T, Usage]:
        """A JSON reply parsed by `parse` (which raises ValueError for an invalid one),
        with exactly one repair attempt."""
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": False},
        }
        first = await self._stream(model, messages, heartbeat, response_format)
        try:
            return parse(first.text), first.usage
        except ValueError as err:  # pydantic's ValidationError is a ValueError
            problem = _describe(err)
        repair: list[ChatCompletionMessageParam] = [
            *messages,
            {"role": "assistant", "content": first.text},
            {
                "role": "user",
                "content": f"That reply is not a valid {name}:\n{problem}\n"
                "Reply with only the corrected JSON object.",
            },
        ]
        second = await self._stream(model, repair, heartbeat, response_format)
        usage = first.usage + second.usage
        try:
            return parse(second.text), usage
        except ValueError as err:
            raise ProviderError(
                "invalid_model_output",
                f"the model's {name} is still invalid after one repair attempt: {_describe(err)}",
            ) from err

    async def _stream(
        self,
        model: str,
        messages: list[ChatCompletionMessageParam],
        heartbeat: Heartbeat,
        response_format: ResponseFormatJSONSchema | None = None,
    ) -> Completion:
        """One streamed completion, heartbeating on every chunk."""
        extra: dict[str, Any] = {}
        if response_format is not None:
            extra["response_format"] = response_format
        parts: list[str] = []
        result = Completion()
        try:
            stream = await self._client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **extra,
            )
            async with stream:
                async for chunk in stream:
                    heartbeat()
                    if chunk.usage is not None:
                        # The last usage seen: some servers repeat a running total.
                        result.usage = Usage(
                            chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0
                        )
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        if choice.delta is not None and choice.delta.content:
                            parts.append(choice.delta.content)
                        if choice.finish_reason is not None:
                            result.finish_reason = choice.finish_reason
        except openai.APIStatusError as err:
            if err.status_code >= 500 or err.status_code in TRANSIENT_4XX:
                raise  # transient: Temporal retries the stage
            detail = err.body.get("message") if isinstance(err.body, dict) else None
            raise ProviderError(
                "provider_rejected",
                f"the model server rejected the request: {err.status_code} {detail or err.message}",
            ) from err
        result.text = "".join(parts)
        return result


# -- prompts -----------------------------------------------------------------------


def _spec_prompt(request: SpecRequest) -> str:
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
            request.base.model_dump_json(indent=2),
            "",
            "Apply the requirements above as changes to that spec: keep everything they do "
            "not change (name, entities, fields, notes); add, change, rename or remove only "
            "what they ask for. Reply with the complete new spec.",
        ]
    return "\n".join(lines)


def _file_prompt(
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


# -- parsing and checking ------------------------------------------------------------


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


def _parse_spec(text: str, request: SpecRequest) -> ProjectSpec:
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


def spec_problems(spec: ProjectSpec) -> list[str]:
    """What makes a schema-valid spec unusable: bad names, dangling references, enums
    without choices, a circle of required references."""
    problems: list[str] = []
    names = {entity.name for entity in spec.entities}
    declared: set[str] = set()
    for entity in spec.entities:
        if not _IDENTIFIER.match(entity.name):
            problems.append(f"entity name {entity.name!r} is not a Python identifier")
        if entity.name in declared:
            problems.append(f"entity {entity.name} is declared more than once")
        declared.add(entity.name)
        seen: set[str] = set()
        for item in entity.fields:
            where = f"{entity.name}.{item.name}"
            if not _IDENTIFIER.match(item.name):
                problems.append(f"field name {where!r} is not a Python identifier")
            if item.name in seen:
                problems.append(f"field {where} is declared more than once")
            seen.add(item.name)
            if item.type == "ref" and item.ref not in names:
                problems.append(f"field {where} refers to {item.ref!r}, which is no entity")
            if item.type == "enum" and len(item.choices) < 2:
                problems.append(f"enum field {where} needs at least two choices")
    if not problems:
        try:
            dependency_order(spec)
        except BadRequirements as err:
            problems.append(str(err))
    return problems


def _parse_plan(text: str) -> FilePlan:
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


def spec_changes(base: ProjectSpec, new: ProjectSpec) -> list[str]:
    """A readable list of what changed from `base` to `new`, entity by entity and field
    by field, in the builtin provider's wording."""
    changes: list[str] = []
    before = {entity.name: entity for entity in base.entities}
    after = {entity.name: entity for entity in new.entities}
    for name in before:
        if name not in after:
            changes.append(f"removed entity {name}")
    for name, entity in after.items():
        if name not in before:
            changes.append(f"added entity {name}")
            continue
        old_fields = {f.name: f for f in before[name].fields}
        new_fields = {f.name: f for f in entity.fields}
        for field_name in old_fields:
            if field_name not in new_fields:
                changes.append(f"removed field {name}.{field_name}")
        for field_name, spec_field in new_fields.items():
            if field_name not in old_fields:
                changes.append(f"added field {name}.{field_name}")
            elif spec_field != old_fields[field_name]:
                changes.append(f"changed field {name}.{field_name}")
    return changes


def _describe(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        text = "\n".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in err.errors()
        )
    else:
        text = str(err)
    return text[:ERROR_CHARS]
