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

from typing import TYPE_CHECKING

import openai
from openai.types.chat import ChatCompletionMessageParam

from genflow.files import FileOut, media_type
from genflow.pipeline.spec import ProjectSpec, template_or_default
from genflow.pipeline.spec_check import spec_changes
from genflow.providers import Heartbeat, ProviderError, SpecRequest, Usage
from genflow.providers.chat import ChatClient
from genflow.providers.prompts import (
    FILE_SYSTEM,
    MAX_FILES,
    PLAN_SYSTEM,
    SPEC_SYSTEM,
    FilePlan,
    file_prompt,
    parse_plan,
    parse_spec,
    spec_prompt,
    strip_fences,
)
from genflow.settings import Settings

if TYPE_CHECKING:
    from genflow.providers import Budget


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
        max_tokens_per_call: int = 4096,
    ) -> None:
        self._model = model
        self._chat = ChatClient(
            client
            or openai.AsyncOpenAI(
                base_url=base_url,
                # Local servers (Ollama, llama.cpp, vLLM) need no key, but the SDK
                # refuses an empty one.
                api_key=api_key or "no-key",
                timeout=timeout_seconds,
                max_retries=0,  # retries belong to Temporal
            ),
            max_tokens_per_call,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatibleProvider:
        return cls(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.openai_model,
            settings.openai_timeout_seconds,
            max_tokens_per_call=settings.openai_max_tokens_per_call,
        )

    async def close(self) -> None:
        await self._chat.close()

    # -- the spec -----------------------------------------------------------------

    async def extract_spec(
        self, request: SpecRequest, heartbeat: Heartbeat, budget: Budget = None
    ) -> tuple[ProjectSpec, list[str], Usage]:
        template_or_default(request.template)  # an unknown one: BadRequirements
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SPEC_SYSTEM},
            {"role": "user", "content": spec_prompt(request)},
        ]
        spec, usage = await self._chat.structured(
            request.model or self._model,
            messages,
            "ProjectSpec",
            ProjectSpec.model_json_schema(),
            lambda text: parse_spec(text, request),
            heartbeat,
            budget,
        )
        changes = spec_changes(request.base, spec) if request.base is not None else []
        return spec, changes, usage

    # -- the files ----------------------------------------------------------------

    async def generate_files(
        self, spec: ProjectSpec, model: str | None, heartbeat: Heartbeat, budget: Budget = None
    ) -> tuple[list[FileOut], Usage]:
        model = model or self._model
        spec_json = spec.model_dump_json(indent=2)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": PLAN_SYSTEM.replace("{max_files}", str(MAX_FILES))},
            {"role": "user", "content": f"The project's spec:\n{spec_json}"},
        ]
        plan, usage = await self._chat.structured(
            model, messages, "FilePlan", FilePlan.model_json_schema(), parse_plan, heartbeat, budget
        )
        files: list[FileOut] = []
        for planned in plan.files:
            file_messages: list[ChatCompletionMessageParam] = [
                {"role": "system", "content": FILE_SYSTEM},
                {"role": "user", "content": file_prompt(spec_json, plan, planned, files)},
            ]
            completion = await self._chat.stream(model, file_messages, heartbeat, budget=budget)
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
