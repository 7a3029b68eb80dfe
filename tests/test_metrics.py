"""Prometheus metrics on the API, behind GENFLOW_METRICS_TOKEN when it is set."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from api.app import create_app
from genflow.domain import Status
from genflow.settings import Settings
from tests.conftest import Stack, serve


async def test_api_metrics_name_routes_statuses_and_creates(stack: Stack) -> None:
    created = await stack.create(user="metrics-user")
    await stack.wait_until(created["id"], lambda g: g["status"] == "completed", user="metrics-user")
    await stack.http.get(f"/v1/generations/{created['id']}", headers=stack.auth("metrics-user"))
    await stack.http.get("/v1/generations/not-a-uuid", headers=stack.auth("metrics-user"))

    response = await stack.http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert re.search(
        r'genflow_http_request_duration_seconds_count\{method="POST",route="/v1/generations",'
        r'status="202"\} [1-9]',
        text,
    )
    assert re.search(
        r'genflow_http_request_duration_seconds_count\{method="GET",'
        r'route="/v1/generations/\{generation_id\}",status="422"\} [1-9]',
        text,
    )
    created_total = re.search(r"^genflow_generations_created_total (\S+)$", text, re.M)
    assert created_total and float(created_total[1]) >= 1

    by_status = dict(re.findall(r'^genflow_generations\{status="(\w+)"\} (\S+)$', text, re.M))
    assert set(by_status) == {s.value for s in Status}
    assert float(by_status["completed"]) >= 1


@pytest.mark.postgresql_only  # access to /metrics does not depend on the read model
async def test_metrics_want_the_token_when_one_is_set_and_are_off_in_production(
    stack: Stack,
) -> None:
    token = "m" * 40
    answers: dict[str, httpx.Response] = {}
    variants: dict[str, dict[str, Any]] = {
        "token": {"metrics_token": SecretStr(token)},
        "production": {"environment": "production"},
    }
    for name, changes in variants.items():
        settings = stack.settings.model_copy(update=changes)
        server, task, base_url = await serve(
            create_app(settings, engine=stack.engine, temporal=stack.temporal)
        )
        try:
            async with httpx.AsyncClient(base_url=base_url) as http:
                answers[f"{name}:none"] = await http.get("/metrics")
                answers[f"{name}:jwt"] = await http.get("/metrics", headers=stack.auth())
                answers[f"{name}:wrong"] = await http.get(
                    "/metrics", headers={"Authorization": "Bearer " + "x" * 40}
                )
                answers[f"{name}:right"] = await http.get(
                    "/metrics", headers={"Authorization": f"Bearer {token}"}
                )
        finally:
            server.should_exit = True
            await task

    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "token:none": 401,
        "token:jwt": 401,
        "token:wrong": 401,
        "token:right": 200,
        "production:none": 403,
        "production:jwt": 403,
        "production:wrong": 403,
        "production:right": 403,
    }
    refused = answers["token:none"]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "genflow_generations_created_total" not in refused.text
    assert "genflow_generations_created_total" in answers["token:right"].text
    assert "GENFLOW_METRICS_TOKEN" in answers["production:none"].json()["detail"]


def test_production_refuses_a_short_metrics_token() -> None:
    production = {"environment": "production", "jwt_secret": "j" * 40}
    with pytest.raises(ValidationError, match="GENFLOW_METRICS_TOKEN"):
        Settings.model_validate({**production, "metrics_token": "short"})
    assert Settings.model_validate({**production, "metrics_token": "t" * 32}).metrics_token
    assert Settings.model_validate(production).metrics_token is None  # /metrics is then off
