"""Prometheus metrics on the API."""

from __future__ import annotations

import re

from genflow.domain import Status
from tests.conftest import Stack


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
