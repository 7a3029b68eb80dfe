"""A small OpenAI-compatible Chat Completions server for tests, scripted per request.

`POST /v1/chat/completions`, streamed (SSE chunks in OpenAI's format, a usage chunk
when `stream_options.include_usage`, then `data: [DONE]`) or not. Each request is
classified from its body: a spec request (response_format json_schema "ProjectSpec"),
a file plan ("FilePlan"), a repair of either (it carries the model's earlier reply as
an assistant message) or a file (the last message names it on a `Path:` line).

A test picks a behaviour by putting a marker in the requirements,
``[scenario:NAME:TAG]`` (TAG makes the marker unique to the test). The spec the fake
returns keeps the marker in its notes, so every later request of that generation
carries it too and `FakeOpenAI.requests_for(marker)` finds them all. Scenarios, for
the spec request:

- ``ok``: a valid spec;
- ``rate-limit-once``: 429 the first time, then a valid spec;
- ``malformed-once``: invalid JSON the first time, then (to the repair) a valid spec;
- ``malformed-always``: invalid JSON, to the repair too;
- ``bad-request``: 400 every time;
- ``slow-stream``: a valid spec, one chunk every 0.2 s for 30 s.

and for the file plan, ``unsafe-path``: a plan (and repaired plan) with "../outside.py".

An iteration (the prompt holds the parent's spec) gets the spec with a field and an
entity added. Every other request gets the plan and files of a tiny package, `inventory`,
with one function and a passing test.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

MARKER = re.compile(r"\[scenario:([a-z-]+)(?::([\w-]+))?\]")
PATH_LINE = re.compile(r"^Path: (\S+)$", re.M)
SLOW_CHUNKS = 150
SLOW_INTERVAL = 0.2
CHUNK_CHARS = 24

PACKAGE = "inventory"
PLAN = {
    "files": [
        {"path": "pyproject.toml", "kind": "source", "purpose": "packaging"},
        {"path": f"{PACKAGE}/__init__.py", "kind": "source", "purpose": "the package"},
        {"path": f"{PACKAGE}/core.py", "kind": "source", "purpose": "the functions"},
        {"path": "tests/test_core.py", "kind": "test", "purpose": "tests of core"},
        # genflow writes README.md itself: the provider must not ask for it.
        {"path": "README.md", "kind": "source", "purpose": "readme"},
    ]
}
UNSAFE_PLAN = {"files": [*PLAN["files"], {"path": "../outside.py", "kind": "source"}]}
MALFORMED = '{"name": "inventory", "entities": ['
FILES = {
    "pyproject.toml": (
        '[project]\nname = "inventory"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    ),
    f"{PACKAGE}/__init__.py": (
        '"""An inventory of items."""\n\n'
        "from inventory.core import total_quantity\n\n"
        '__all__ = ["total_quantity"]\n'
    ),
    # Fenced, the way chatty models answer: the provider strips the fences.
    f"{PACKAGE}/core.py": (
        "```python\n"
        '"""Counting items."""\n\n\n'
        "def total_quantity(quantities: list[int]) -> int:\n"
        '    """The sum of the quantities."""\n'
        "    return sum(quantities)\n"
        "```"
    ),
    "tests/test_core.py": (
        "from inventory.core import total_quantity\n\n\n"
        "def test_total_quantity() -> None:\n"
        "    assert total_quantity([2, 3]) == 5\n\n\n"
        "def test_total_of_nothing_is_zero() -> None:\n"
        "    assert total_quantity([]) == 0\n"
    ),
}


def spec_for(marker: str | None, iteration: bool = False) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"name": "name", "type": "str", "required": True, "unique": True},
        {"name": "quantity", "type": "int"},
    ]
    entities: list[dict[str, Any]] = [{"name": "Item", "fields": fields}]
    if iteration:
        fields.append({"name": "price", "type": "float"})
        entities.append({"name": "Supplier", "fields": [{"name": "name", "type": "str"}]})
    return {
        "name": PACKAGE,
        "description": "An inventory of items",
        "template": "python-library",
        "entities": entities,
        "operations": ["count items"],
        "notes": [marker] if marker else [],
    }


@dataclass
class Recorded:
    """One request the fake received."""

    kind: str  # spec, spec-repair, plan, plan-repair, file
    body: dict[str, Any]
    authorization: str | None
    marker: str | None
    path: str | None = None
    status: int = 200
    usage: tuple[int, int] = (0, 0)


@dataclass
class StreamState:
    chunks_sent: int = 0
    finished: bool = False
    abandoned: bool = False


@dataclass
class FakeOpenAI:
    requests: list[Recorded] = field(default_factory=list)
    streams: dict[str, StreamState] = field(default_factory=dict)

    def requests_for(self, marker: str, kind: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.marker == marker and kind in (None, r.kind)]

    @property
    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions", response_model=None)
        async def completions(request: Request) -> JSONResponse | StreamingResponse:
            body = await request.json()
            return self.respond(body, request.headers.get("authorization"))

        return app

    # -- deciding the response --------------------------------------------------

    def respond(
        self, body: dict[str, Any], authorization: str | None
    ) -> JSONResponse | StreamingResponse:
        messages: list[dict[str, Any]] = body.get("messages", [])
        text = "\n".join(str(m.get("content", "")) for m in messages)
        found = MARKER.search(text)
        marker, scenario = (found[0], found[1]) if found else (None, "ok")
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        repair = any(m.get("role") == "assistant" for m in messages)
        path_match = PATH_LINE.search(str(messages[-1].get("content", ""))) if messages else None
        if schema == "ProjectSpec":
            kind = "spec-repair" if repair else "spec"
        elif schema == "FilePlan":
            kind = "plan-repair" if repair else "plan"
        else:
            kind = "file"
        recorded = Recorded(
            kind, body, authorization, marker, path_match[1] if path_match else None
        )
        earlier = [r for r in self.requests if r.marker == marker and r.kind == kind]
        self.requests.append(recorded)

        if kind == "spec":
            if scenario == "rate-limit-once" and not earlier:
                return self._error(recorded, 429, "Rate limit reached", "rate_limit_exceeded")
            if scenario == "bad-request":
                return self._error(recorded, 400, "model does not exist", "invalid_request_error")
            if scenario == "malformed-always" or (scenario == "malformed-once" and not earlier):
                return self._reply(recorded, MALFORMED)
            iteration = "current spec is" in text
            content = json.dumps(spec_for(marker, iteration), indent=2)
            if scenario == "slow-stream" and marker:
                return self._slow(recorded, content, marker)
            return self._reply(recorded, content)
        if kind == "spec-repair":
            if scenario == "malformed-always":
                return self._reply(recorded, MALFORMED)
            return self._reply(recorded, json.dumps(spec_for(marker)))
        if kind in ("plan", "plan-repair"):
            if scenario == "unsafe-path":
                return self._reply(recorded, json.dumps(UNSAFE_PLAN))
            return self._reply(recorded, json.dumps(PLAN))
        content = FILES.get(recorded.path or "")
        if content is None:
            return self._error(recorded, 400, f"no such file {recorded.path}", "invalid_request")
        return self._reply(recorded, content)

    # -- responses ----------------------------------------------------------------

    def _error(self, recorded: Recorded, status: int, message: str, kind: str) -> JSONResponse:
        recorded.status = status
        error = {"message": message, "type": kind, "param": None, "code": kind}
        return JSONResponse({"error": error}, status_code=status)

    def _usage(self, recorded: Recorded, content: str) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", ""))) for m in recorded.body["messages"]) // 4 + 1
        completion = len(content) // 4 + 1
        recorded.usage = (prompt, completion)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _reply(self, recorded: Recorded, content: str) -> JSONResponse | StreamingResponse:
        body = recorded.body
        usage = self._usage(recorded, content)
        model = str(body.get("model", "fake"))
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        pieces = [content[i : i + CHUNK_CHARS] for i in range(0, len(content), CHUNK_CHARS)]

        async def events() -> AsyncIterator[str]:
            chunk = _Chunks(model)
            yield chunk.delta({"role": "assistant", "content": ""})
            for piece in pieces:
                yield chunk.delta({"content": piece})
            yield chunk.delta({}, finish_reason="stop")
            if include_usage:
                yield chunk.usage(usage)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def _slow(self, recorded: Recorded, content: str, marker: str) -> StreamingResponse:
        """The spec, led by whitespace chunks: one every 0.2 s for 30 s."""
        state = self.streams[marker] = StreamState()
        model = str(recorded.body.get("model", "fake"))
        usage = self._usage(recorded, content)

        async def events() -> AsyncIterator[str]:
            chunk = _Chunks(model)
            try:
                yield chunk.delta({"role": "assistant", "content": ""})
                for _ in range(SLOW_CHUNKS):
                    yield chunk.delta({"content": " "})
                    state.chunks_sent += 1
                    await asyncio.sleep(SLOW_INTERVAL)
                yield chunk.delta({"content": content}, finish_reason="stop")
                yield chunk.usage(usage)
                yield "data: [DONE]\n\n"
                state.finished = True
            finally:
                state.abandoned = not state.finished

        return StreamingResponse(events(), media_type="text/event-stream")


class _Chunks:
    """`chat.completion.chunk` SSE lines of one completion."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())

    def _line(self, choices: list[dict[str, Any]], usage: dict[str, int] | None) -> str:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(chunk)}\n\n"

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return self._line([{"index": 0, "delta": delta, "finish_reason": finish_reason}], None)

    def usage(self, usage: dict[str, int]) -> str:
        return self._line([], usage)
