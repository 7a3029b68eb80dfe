"""Property-based run of schemathesis against the app's own /openapi.json:
authenticated, every operation, no 5xx and no response outside the declared schema.

Path ids are drawn most of the time from real generations and projects of the
fuzzing user (completed, active and failed ones), so the operations are exercised
past their 404 checks."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from pathlib import Path

import pytest

from api.app import create_app
from tests.conftest import Stack, serve

ST = Path(sys.executable).parent / "st"
EXAMPLES = 100
USER = "fuzzer"


async def seed(stack: Stack) -> tuple[list[str], list[str]]:
    project = await stack.http.post("/v1/projects", json={"name": "fuzz"}, headers=stack.auth(USER))
    project_id = project.json()["id"]
    done = [await stack.create(user=USER, project_id=project_id) for _ in range(3)]
    failed = await stack.create(user=USER, prompt="No entities here.")
    for created in [*done, failed]:
        await stack.wait_until(
            created["id"], lambda g: g["status"] in ("completed", "failed"), user=USER
        )
    active = [await stack.create(user=USER, metadata={"test": {"pace": 20}}) for _ in range(2)]
    return [g["id"] for g in [*done, failed, *active]], [project_id]


async def test_schemathesis_finds_no_server_error_or_schema_violation(
    stack: Stack, tmp_path: Path
) -> None:
    if stack.settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("the fuzz run uses the PostgreSQL stack (the production read model)")
    generations, projects = await seed(stack)
    # The fuzzer talks to a second API on the same read model whose settings refuse
    # webhook URLs inside the network, as in production. The workflows it starts go to
    # a task queue no worker polls: the HTTP contract is what is under test, and
    # hundreds of full pipelines (each reviewing a project) would only slow it down.
    settings = stack.settings.model_copy(
        update={
            "webhook_allow_private": False,
            "task_queue": f"fuzz-unpolled-{uuid.uuid4()}",
            "max_active_per_user": 1_000_000,
        }
    )
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)
    server, server_task, base_url = await serve(app)
    try:
        await fuzz(base_url, stack.token(USER, ttl=3600), generations, projects, tmp_path)
    finally:
        server.should_exit = True
        await server_task


async def fuzz(
    base_url: str, token: str, generations: list[str], projects: list[str], tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "\n".join(
            [
                # Every generation has an event stored; waiting for more would take a while.
                "max-stream-events = 1",
                "[dictionaries.generations]",
                f"values = {json.dumps(generations)}",
                "[dictionaries.projects]",
                f"values = {json.dumps(projects)}",
                "[dictionaries.paths]",
                'values = ["README.md", "spec.json", "library_service/models.py", "docs/API.md"]',
                "[parameters]",
                '"path.generation_id" = { dictionary = "generations", probability = 0.8 }',
                '"path.project_id" = { dictionary = "projects", probability = 0.8 }',
                '"path.path" = { dictionary = "paths", probability = 0.6 }',
            ]
        )
    )
    # The requests wait on I/O more than on CPU, so the fuzzing phase runs four workers.
    # The coverage phase runs one: schemathesis 4.32 fails in it with several workers.
    for phases, workers in (("examples,coverage", 1), ("fuzzing", 4)):
        await run_schemathesis(config, base_url, token, phases, workers, tmp_path)


async def run_schemathesis(
    config: Path, base_url: str, token: str, phases: str, workers: int, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        phases,
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--workers",
        str(workers),
        "--seed",
        "1",
        "--no-color",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    (tmp_path / f"schemathesis-{phases}.log").write_text(text)
    assert process.returncode == 0, text[-8000:]
    assert not re.search(r"(?<!\d)0 passed", text)
