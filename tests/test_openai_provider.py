"""The `openai` provider end to end: a real worker, Temporal and read model, talking to
a scripted OpenAI-compatible server (tests/fake_openai.py) on loopback."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from activities.stages import StageActivities
from api.app import create_app
from genflow.domain import STAGES
from genflow.files import safe_path
from genflow.pipeline.language.sentences import count_sentences
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.spec import FieldSpec, ProjectSpec
from genflow.pipeline.spec_check import spec_changes
from genflow.providers.builtin import BuiltinProvider
from genflow.providers.openai_compat import OpenAICompatibleProvider
from genflow.providers.prompts import strip_fences
from tests.conftest import Stack, eventually, serve
from tests.fake_openai import FILES, FakeOpenAI, StreamState
from worker.assembly import build_worker

# Worker-side behaviour: the read model's backend does not change it.
pytestmark = pytest.mark.postgresql_only

DEFAULT_MODEL = "fake-default-model"
API_KEY = "sk-test-key"
PROMPT = "An inventory. Item has name (text, required, unique) and quantity (integer)."
CODE_PATHS = {
    "pyproject.toml",
    "inventory/__init__.py",
    "inventory/core.py",
    "tests/test_core.py",
}
EXPECTED_PATHS = CODE_PATHS | {
    "spec.json",
    "review/quality_report.json",
    "README.md",
    "docs/API.md",
}


@dataclass
class OpenAIStack:
    """The shared stack (its database and Temporal) plus, on a task queue of their own,
    a worker offering the `openai` provider (pointed at the fake model server) and an
    API that starts generations there."""

    stack: Stack
    fake: FakeOpenAI
    http: httpx.AsyncClient

    async def create(self, prompt: str, **body: Any) -> str:
        response = await self.http.post(
            "/v1/generations",
            json={"prompt": prompt, "provider": "openai", **body},
            headers=self.stack.auth(),
        )
        assert response.status_code == 202, response.text
        assert response.json()["provider"] == "openai"
        return str(response.json()["id"])

    async def get(self, generation_id: str) -> dict[str, Any]:
        response = await self.http.get(
            f"/v1/generations/{generation_id}", headers=self.stack.auth()
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def wait_until(
        self, generation_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        last: dict[str, Any] | None = None

        async def reached() -> dict[str, Any] | None:
            nonlocal last
            last = await self.get(generation_id)
            return last if done(last) else None

        found: dict[str, Any] = await eventually(
            reached, timeout, what=lambda: f"generation {generation_id}; last state: {last}"
        )
        return found

    async def finished(self, generation_id: str) -> dict[str, Any]:
        return await self.wait_until(
            generation_id, lambda g: g["status"] in ("completed", "failed", "cancelled")
        )


@pytest.fixture(scope="module")
async def openai_stack(
    stack: Stack, fake_server: tuple[FakeOpenAI, str]
) -> AsyncIterator[OpenAIStack]:
    fake, base_url = fake_server
    settings = stack.settings.model_copy(update={"task_queue": f"openai-{uuid.uuid4()}"})
    provider = OpenAICompatibleProvider(base_url, API_KEY, DEFAULT_MODEL, timeout_seconds=10)
    stages = StageActivities(
        stack.repository,
        SandboxLimits(),
        providers={"builtin": BuiltinProvider(), "openai": provider},
    )
    worker = build_worker(stack.temporal, settings, stack.repository, stages)
    worker_task = asyncio.create_task(worker.run())
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)
    server, server_task, api_url = await serve(app)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        yield OpenAIStack(stack, fake, http)
    server.should_exit = True
    await server_task
    await worker.shutdown()
    await worker_task
    await provider.close()


def marker(scenario: str) -> str:
    return f"[scenario:{scenario}:{uuid.uuid4().hex[:8]}]"


def stages_of(generation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["name"]: stage for stage in generation["stages"]}


async def test_generation_with_the_openai_provider_completes(openai_stack: OpenAIStack) -> None:
    tag = marker("ok")
    generation_id = await openai_stack.create(f"{PROMPT} {tag}", model="custom-model")

    done = await openai_stack.finished(generation_id)

    assert done["status"] == "completed", done["error"]
    assert done["provider"] == "openai"
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in done["stages"])
    artifacts = {a["path"]: a for a in done["artifacts"]}
    assert set(artifacts) == EXPECTED_PATHS
    assert artifacts["inventory/core.py"]["media_type"] == "text/x-python"
    assert artifacts["pyproject.toml"]["media_type"] == "application/toml"
    assert artifacts["tests/test_core.py"]["kind"] == "test"
    repository = openai_stack.stack.repository
    core = await repository.read_file(uuid.UUID(generation_id), "inventory/core.py")
    assert core is not None
    assert core.content.decode() == strip_fences(FILES["inventory/core.py"]) + "\n"
    assert "```" not in core.content.decode()
    spec = await repository.read_file(uuid.UUID(generation_id), "spec.json")
    assert spec is not None
    assert ProjectSpec.model_validate_json(spec.content).entities[0].name == "Item"
    # genflow counts the prompt's sentences itself, for any provider (the score's share
    # of sentences understood does not rest on a model's count)
    sentences = ProjectSpec.model_validate_json(spec.content).sentences
    assert sentences == count_sentences(f"{PROMPT} {tag}") > 0
    tests = next(c for c in done["quality_report"]["checks"] if c["name"] == "tests")
    assert tests["passed"] == 2 and tests["failed"] == 0

    requests = openai_stack.fake.requests_for(tag)
    assert [r.kind for r in requests] == ["spec", "plan"] + ["file"] * len(CODE_PATHS)
    assert {r.path for r in requests if r.kind == "file"} == CODE_PATHS  # no README.md
    assert all(r.body["model"] == "custom-model" for r in requests)
    assert all(r.body["stream"] is True for r in requests)
    assert all(r.authorization == f"Bearer {API_KEY}" for r in requests)
    spec_request = requests[0].body
    assert spec_request["response_format"]["json_schema"]["name"] == "ProjectSpec"
    assert spec_request["stream_options"] == {"include_usage": True}
    assert PROMPT in spec_request["messages"][-1]["content"]
    # Token metrics are the usage chunks' totals, every completion counted once.
    assert done["metrics"]["tokens_in"] == sum(r.usage[0] for r in requests) > 0
    assert done["metrics"]["tokens_out"] == sum(r.usage[1] for r in requests) > 0


async def test_an_iteration_sends_the_parent_spec_and_records_the_changes(
    openai_stack: OpenAIStack,
) -> None:
    tag = marker("ok")
    parent_id = await openai_stack.create(f"{PROMPT} {tag}")
    assert (await openai_stack.finished(parent_id))["status"] == "completed"

    response = await openai_stack.http.post(
        f"/v1/generations/{parent_id}/iterate",
        json={"prompt": "Items get a price. Add suppliers with a name."},
        headers=openai_stack.stack.auth(),
    )
    assert response.status_code == 202, response.text
    child = await openai_stack.finished(response.json()["id"])

    assert child["status"] == "completed", child["error"]
    changes = await openai_stack.stack.repository.read_file(uuid.UUID(child["id"]), "changes.json")
    assert changes is not None
    assert json.loads(changes.content)["changes"] == [
        "added field Item.price",
        "added entity Supplier",
    ]
    spec_request = openai_stack.fake.requests_for(tag, "spec")[-1]
    assert '"name": "Item"' in spec_request.body["messages"][-1]["content"]  # the parent's
    assert spec_request.body["model"] == DEFAULT_MODEL


async def test_rate_limit_is_retried_by_temporal(openai_stack: OpenAIStack) -> None:
    tag = marker("rate-limit-once")
    generation_id = await openai_stack.create(f"{PROMPT} {tag}")

    done = await openai_stack.finished(generation_id)

    assert done["status"] == "completed", done["error"]
    assert stages_of(done)["schema_extraction"]["attempts"] == 2
    assert stages_of(done)["code_generation"]["attempts"] == 1
    spec_requests = openai_stack.fake.requests_for(tag, "spec")
    assert [r.status for r in spec_requests] == [429, 200]
    assert all(r.body["model"] == DEFAULT_MODEL for r in spec_requests)
    events = await openai_stack.stack.repository.events_after(uuid.UUID(generation_id), 0)
    retrying = [e.data for e in events if e.event == "stage" and e.data["status"] == "retrying"]
    assert len(retrying) == 1 and retrying[0]["stage"] == "schema_extraction"
    assert retrying[0]["error"].startswith("RateLimitError")


async def test_malformed_json_is_repaired_once(openai_stack: OpenAIStack) -> None:
    tag = marker("malformed-once")
    generation_id = await openai_stack.create(f"{PROMPT} {tag}")

    done = await openai_stack.finished(generation_id)

    assert done["status"] == "completed", done["error"]
    assert stages_of(done)["schema_extraction"]["attempts"] == 1
    assert len(openai_stack.fake.requests_for(tag, "spec")) == 1
    repairs = openai_stack.fake.requests_for(tag, "spec-repair")
    assert len(repairs) == 1
    messages = repairs[0].body["messages"]
    assert messages[-2] == {"role": "assistant", "content": '{"name": "inventory", "entities": ['}
    assert "not a valid ProjectSpec" in messages[-1]["content"]
    # Both completions of the spec count.
    spec_tokens = sum(r.usage[0] for r in openai_stack.fake.requests_for(tag))
    assert done["metrics"]["tokens_in"] == spec_tokens


async def test_output_still_invalid_after_the_repair_fails_the_generation(
    openai_stack: OpenAIStack,
) -> None:
    tag = marker("malformed-always")
    generation_id = await openai_stack.create(f"{PROMPT} {tag}")

    done = await openai_stack.finished(generation_id)

    assert done["status"] == "failed"
    assert done["error"]["code"] == "invalid_model_output"
    assert "after one repair attempt" in done["error"]["message"]
    assert stages_of(done)["schema_extraction"]["attempts"] == 1
    assert [r.kind for r in openai_stack.fake.requests_for(tag)] == ["spec", "spec-repair"]


async def test_a_file_path_outside_the_project_is_invalid_output(
    openai_stack: OpenAIStack,
) -> None:
    tag = marker("unsafe-path")
    generation_id = await openai_stack.create(f"{PROMPT} {tag}")

    done = await openai_stack.finished(generation_id)

    assert done["status"] == "failed"
    assert done["error"]["code"] == "invalid_model_output"
    assert "../outside.py" in done["error"]["message"]
    assert stages_of(done)["code_generation"]["status"] == "failed"
    assert stages_of(done)["code_generation"]["attempts"] == 1
    kinds = [r.kind for r in openai_stack.fake.requests_for(tag)]
    assert kinds == ["spec", "plan", "plan-repair"]  # no file was asked for
    assert {a["path"] for a in done["artifacts"]} == {"spec.json"}


async def test_bad_request_fails_at_once_with_provider_rejected(
    openai_stack: OpenAIStack,
) -> None:
    tag = marker("bad-request")
    generation_id = await openai_stack.create(f"{PROMPT} {tag}")

    done = await openai_stack.finished(generation_id)

    assert done["status"] == "failed"
    assert done["error"]["code"] == "provider_rejected"
    assert "HTTP 400: bad request" in done["error"]["message"]
    # The model server's own words stay in the worker's log (issue 20).
    assert "model does not exist" not in done["error"]["message"]
    extraction = stages_of(done)["schema_extraction"]
    assert extraction["status"] == "failed" and extraction["attempts"] == 1
    assert all(stages_of(done)[name]["status"] == "skipped" for name in list(STAGES)[1:])
    assert len(openai_stack.fake.requests_for(tag)) == 1
    assert done["artifacts"] == []


async def test_cancel_while_tokens_stream_ends_cancelled_within_2s(
    openai_stack: OpenAIStack,
) -> None:
    tag = marker("slow-stream")
    generation_id = await openai_stack.create(f"{PROMPT} {tag}")
    fake = openai_stack.fake

    def streaming() -> StreamState | None:
        state = fake.streams.get(tag)
        return state if state is not None and state.chunks_sent >= 3 else None

    state: StreamState = await eventually(streaming, 15, what="the slow stream to start")

    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await openai_stack.http.post(
        f"/v1/generations/{generation_id}/cancel",
        json={"reason": "stop streaming"},
        headers=openai_stack.stack.auth(),
    )
    assert response.status_code == 202, response.text
    repository = openai_stack.stack.repository

    async def cancelled() -> bool:
        row = await repository.get(uuid.UUID(generation_id))
        return row is not None and row.status == "cancelled"

    left = 2.0 - (loop.time() - started)
    await eventually(cancelled, left, 0.02, "the row to be cancelled within 2 s of the cancel")

    # The activity heartbeats on every chunk, so it learns of the cancel and hangs up.
    left = 5.0 - (loop.time() - started)
    await eventually(lambda: state.abandoned, left, what=lambda: f"the stream to end: {state}")
    assert not state.finished
    done = await openai_stack.get(generation_id)
    assert done["status"] == "cancelled"
    assert done["cancel_reason"] == "stop streaming"
    assert stages_of(done)["schema_extraction"]["attempts"] == 1
    assert len(fake.requests_for(tag)) == 1
    assert done["artifacts"] == []


def test_spec_changes_name_entities_and_fields() -> None:
    base = ProjectSpec.model_validate_json(json.dumps(_spec()))
    new = base.model_copy(deep=True)
    new.entities[0].fields[1] = FieldSpec(name="quantity", type="float")
    new.entities[0].fields.append(FieldSpec(name="sku"))
    del new.entities[0].fields[0]
    new.entities.pop(1)

    assert spec_changes(base, new) == [
        "removed entity Shelf",
        "removed field Item.name",
        "changed field Item.quantity",
        "added field Item.sku",
    ]
    assert spec_changes(base, base) == []


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.py", "pkg/../../x.py", "a\\b.py", ""])
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        safe_path(path)


def test_fences_are_stripped() -> None:
    assert strip_fences("```python\nx = 1\n```") == "x = 1"
    assert strip_fences("<think>hmm</think>\n```\nx = 1\n```\n") == "x = 1"
    assert strip_fences("x = '```'\n") == "x = '```'\n"
    assert safe_path("./pkg/mod.py") == "pkg/mod.py"


def _spec() -> dict[str, Any]:
    return {
        "name": "shop",
        "description": "A shop",
        "entities": [
            {"name": "Item", "fields": [{"name": "name"}, {"name": "quantity", "type": "int"}]},
            {"name": "Shelf", "fields": [{"name": "label"}]},
        ],
    }
