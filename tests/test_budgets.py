"""Spend is bounded: only the models the deployment offers, `max_tokens` on every model
call, a token budget per generation (`budget_exceeded`, and no call after it), a daily
token quota per user (429 until midnight UTC), and the usage shown on each generation
and per day. Through the real stack and the scripted OpenAI-compatible server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits
from tests.conftest import Stack, eventually
from tests.fake_openai import FakeOpenAI
from tests.test_openai_provider import DEFAULT_MODEL, PROMPT, OpenAIStack, marker
from tests.test_sandbox import openai_env

pytestmark = pytest.mark.postgresql_only  # the budget is the worker's; usage rows both
PER_CALL = 1000
QUOTA = 50  # tokens a day: one small generation passes it


@pytest.fixture(scope="module")
async def spend(stack: Stack, fake_server: tuple[FakeOpenAI, str]) -> AsyncIterator[OpenAIStack]:
    """A worker with the openai provider (at most PER_CALL tokens a call) and an API that
    offers two models of it and a small daily quota."""
    fake, base_url = fake_server
    async with openai_env(
        stack,
        fake,
        base_url,
        SandboxLimits(timeout_seconds=30),
        Sandbox(),
        max_tokens_per_call=PER_CALL,
        allowed_models={"builtin": ["*"], "openai": [DEFAULT_MODEL, "other-model"]},
        openai_model=DEFAULT_MODEL,
        daily_token_quota_per_user=QUOTA,
    ) as env:
        yield env.client


async def ended(env: OpenAIStack, generation_id: str, user: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await env.http.get(
            f"/v1/generations/{generation_id}", headers=env.stack.auth(user)
        )
        body: dict[str, Any] = response.json()
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    found: dict[str, Any] = await eventually(check, 60, 0.05, f"generation {generation_id}")
    return found


async def create(env: OpenAIStack, user: str, prompt: str, **body: Any) -> httpx.Response:
    return await env.http.post(
        "/v1/generations",
        json={"prompt": prompt, "provider": "openai", **body},
        headers=env.stack.auth(user),
    )


async def test_a_model_the_deployment_does_not_offer_is_refused_naming_the_offered_ones(
    spend: OpenAIStack,
) -> None:
    user = f"chooser-{uuid.uuid4().hex[:6]}"
    refused = await create(spend, user, PROMPT, model="gpt-9-ultra")
    listed = await spend.http.get("/v1/generations", headers=spend.stack.auth(user))

    assert refused.status_code == 422
    message = refused.json()["errors"][0]["msg"]
    assert "gpt-9-ultra" in message and DEFAULT_MODEL in message and "other-model" in message
    assert listed.json()["items"] == []  # nothing was created


async def test_every_call_sets_max_tokens_and_the_usage_shows_per_generation_and_day(
    spend: OpenAIStack,
) -> None:
    user = f"spender-{uuid.uuid4().hex[:6]}"
    tag = marker("ok")
    response = await create(spend, user, f"{PROMPT} {tag}", model="other-model")
    assert response.status_code == 202, response.text
    done = await ended(spend, response.json()["id"], user)
    stats = await spend.http.get("/v1/generations/statistics", headers=spend.stack.auth(user))

    assert done["status"] == "completed", done["error"]
    calls = spend.fake.requests_for(tag)
    assert calls and all(0 < call.body["max_tokens"] <= PER_CALL for call in calls)
    assert {call.body["model"] for call in calls} == {"other-model"}
    metrics = done["metrics"]
    assert metrics["tokens_in"] == sum(call.usage[0] for call in calls)
    assert metrics["tokens_out"] == sum(call.usage[1] for call in calls)
    assert metrics["sandbox_cpu_seconds"] > 0
    assert metrics["max_tokens"] == 200_000  # the deployment's default budget
    today = stats.json()["daily"][-1]
    assert today["tokens_in"] >= metrics["tokens_in"]
    assert today["tokens_out"] >= metrics["tokens_out"]
    assert today["sandbox_cpu_seconds"] >= metrics["sandbox_cpu_seconds"]
    quota = stats.json()["quota"]
    assert quota["daily_token_quota"] == QUOTA
    assert quota["tokens_used_today"] == metrics["tokens_in"] + metrics["tokens_out"]


async def test_a_generation_past_its_token_budget_fails_and_calls_nothing_more(
    spend: OpenAIStack,
) -> None:
    probe_user, user = f"probe-{uuid.uuid4().hex[:6]}", f"budget-{uuid.uuid4().hex[:6]}"
    probe_tag, tag = marker("ok"), marker("ok")
    probe = await create(spend, probe_user, f"{PROMPT} {probe_tag}")
    await ended(spend, probe.json()["id"], probe_user)
    spec_call = next(c for c in spend.fake.requests_for(probe_tag) if c.kind == "spec")
    spec_tokens = sum(spec_call.usage)

    # Enough for the spec (the same prompt length), 3 tokens short of anything else.
    response = await create(spend, user, f"{PROMPT} {tag}", max_tokens=spec_tokens + 3)
    done = await ended(spend, response.json()["id"], user)

    assert (done["status"], done["error"]["code"]) == ("failed", "budget_exceeded")
    calls = spend.fake.requests_for(tag)
    assert [call.kind for call in calls] == ["spec", "plan"]  # not a single file
    assert calls[1].body["max_tokens"] == 3
    spent = sum(sum(call.usage) for call in calls)
    assert done["metrics"]["tokens_in"] + done["metrics"]["tokens_out"] == spent
    assert done["metrics"]["max_tokens"] == spec_tokens + 3


async def test_a_user_past_the_daily_quota_gets_429_until_midnight(spend: OpenAIStack) -> None:
    user = f"heavy-spender-{uuid.uuid4().hex[:6]}"
    first = await create(spend, user, f"{PROMPT} {marker('ok')}")
    await ended(spend, first.json()["id"], user)  # uses more than QUOTA tokens

    refused = await create(spend, user, PROMPT)
    other = await create(spend, f"other-{uuid.uuid4().hex[:6]}", "Task has title.")

    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600 + 1
    assert "daily quota" in refused.json()["detail"]
    assert other.status_code == 202


async def test_a_budget_above_the_maximum_counts_as_the_maximum(spend: OpenAIStack) -> None:
    user = f"ambitious-{uuid.uuid4().hex[:6]}"
    response = await create(spend, user, "Task has title.", provider="builtin", max_tokens=10**9)

    assert response.status_code == 202, response.text
    assert response.json()["metrics"]["max_tokens"] == 1_000_000
