"""Streamed Chat Completions through the `openai` SDK: every chunk heartbeats, usage
is counted, a JSON reply gets exactly one repair attempt, and only transient failures
propagate for Temporal to retry (any other 4xx is `provider_rejected`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import ValidationError

from genflow.providers import Heartbeat, ProviderError, Usage
from genflow.providers.budget import TokenBudget

T = TypeVar("T")

ERROR_CHARS = 2_000
# 408 and 409 are transient too (the SDK itself would retry them); other 4xx are not.
TRANSIENT_4XX = {408, 409, 429}
# What a refusal means, said without the server's own message.
REFUSALS = {
    400: "bad request",
    401: "genflow's credentials were refused",
    403: "genflow's credentials were refused",
    404: "no such model or endpoint",
    413: "request too large",
    422: "request not processable",
}
log = logging.getLogger(__name__)


@dataclass
class Completion:
    text: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)


class ChatClient:
    """One OpenAI-compatible server: streamed completions and structured replies."""

    def __init__(self, client: openai.AsyncOpenAI, max_tokens_per_call: int = 4096) -> None:
        self._client = client
        self._max_tokens_per_call = max_tokens_per_call

    async def close(self) -> None:
        await self._client.close()

    async def structured(
        self,
        model: str,
        messages: list[ChatCompletionMessageParam],
        name: str,
        schema: dict[str, Any],
        parse: Callable[[str], T],
        heartbeat: Heartbeat,
        budget: TokenBudget | None = None,
    ) -> tuple[T, Usage]:
        """A JSON reply parsed by `parse` (which raises ValueError for an invalid one),
        with exactly one repair attempt."""
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": False},
        }
        first = await self.stream(model, messages, heartbeat, response_format, budget)
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
        second = await self.stream(model, repair, heartbeat, response_format, budget)
        usage = first.usage + second.usage
        try:
            return parse(second.text), usage
        except ValueError as err:
            raise ProviderError(
                "invalid_model_output",
                f"the model's {name} is still invalid after one repair attempt: {_describe(err)}",
            ) from err

    async def stream(
        self,
        model: str,
        messages: list[ChatCompletionMessageParam],
        heartbeat: Heartbeat,
        response_format: ResponseFormatJSONSchema | None = None,
        budget: TokenBudget | None = None,
    ) -> Completion:
        """One streamed completion, heartbeating on every chunk. It asks for at most the
        per-call cap and what is left of `budget` (`max_tokens`), and spends it."""
        budget = budget if budget is not None else TokenBudget(limit=None)
        extra: dict[str, Any] = {"max_tokens": budget.max_tokens(self._max_tokens_per_call)}
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
            # The server's own words may quote its configuration, keys or other users'
            # data: the operator's log has them, the user gets the kind of refusal.
            detail = err.body.get("message") if isinstance(err.body, dict) else None
            log.warning(
                "the model server answered %d: %s", err.status_code, str(detail or err)[:500]
            )
            raise ProviderError(
                "provider_rejected",
                f"the model server rejected the request (HTTP {err.status_code}: "
                f"{REFUSALS.get(err.status_code, 'refused')}); the worker's log has its answer",
            ) from err
        result.text = "".join(parts)
        budget.spend(result.usage)
        return result


def _describe(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        text = "\n".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in err.errors()
        )
    else:
        text = str(err)
    return text[:ERROR_CHARS]
