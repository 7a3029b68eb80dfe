"""Schemathesis against the app's own /openapi.json, on both read models: every phase
(examples, coverage, fuzzing, stateful) and every check it has. It must find nothing:
no 5xx, no status, content type, header or body the document does not declare, no
valid request refused or invalid one accepted, no resource missing after its create or
present after its delete, no operation that ignores auth, no object another user can read.

Isolation: each run fuzzes as two users of its own (fresh names, so other tests' rows
are never in its answers), through an API of its own whose workflows go to a task queue
no worker polls. Path ids are drawn most of the time from the owner's real generations
(completed, failed, active) and project, so the operations are exercised past their 404s.

Reproduction: the seed is `GENFLOW_FUZZ_SEED` or a fresh random one. Every run lists
its seed at the end of pytest's report; a failure names it with the command that repeats
the run, and schemathesis's own report (with a curl line per failure) is in the message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.app import create_app
from tests.conftest import Stack, serve

ST = Path(sys.executable).parent / "st"
SEED_ENV = "GENFLOW_FUZZ_SEED"
# The coverage phase sends every boundary and wrong type of every parameter (about
# 1,000 requests); these bound the rest, so that one backend's run takes about half a
# minute: cases per operation in the fuzzing phase, stateful scenarios and their length.
EXAMPLES = 5
SCENARIOS = 8
STATEFUL_STEPS = 6
PHASES = "examples,coverage,fuzzing,stateful"
# The coverage phase checks the validation of every parameter and body, which answers
# before the read model is touched: it runs on the production backend (PostgreSQL);
# SQLite gets the phases whose requests reach storage.
PHASES_ON = {"postgresql": PHASES, "sqlite": "examples,fuzzing,stateful"}
LIST_VARIANTS = [
    "GET /v1/generations/active",
    "GET /v1/generations/project/{project_id}",
    "GET /v1/generations/{generation_id}/iterations",
]
# Requests wait on the server, Temporal and the database more than on the fuzzer's
# CPU, so several are in flight (tests/fuzz_hooks.py makes that safe on Python 3.11).
WORKERS = 4


class SeedReport:
    """Lists each run's seed and reproduction command at the end of pytest's report,
    also for a passing run and without -s."""

    NAME = "genflow-fuzz-seeds"

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.lines:
            terminalreporter.section("schemathesis seeds")
            for line in self.lines:
                terminalreporter.write_line(line)


@pytest.fixture
def seed_report(request: pytest.FixtureRequest) -> SeedReport:
    plugins = request.config.pluginmanager
    report = plugins.get_plugin(SeedReport.NAME)
    if report is None:
        report = SeedReport()
        plugins.register(report, SeedReport.NAME)
    assert isinstance(report, SeedReport)
    return report


def fuzz_seed() -> int:
    configured = os.environ.get(SEED_ENV, "").strip()
    return int(configured) if configured else random.SystemRandom().randrange(2**31)


@dataclass
class FuzzData:
    """Real values of the owner's for the fuzzer to draw path ids and cursors from."""

    generations: list[str]
    projects: list[str]
    cursors: list[str]


async def seed_data(stack: Stack, user: str) -> FuzzData:
    """The owner's generations in every kind of state, one project, and the cursors
    that page through the generations."""
    project = await stack.http.post("/v1/projects", json={"name": "fuzz"}, headers=stack.auth(user))
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    done = [await stack.create(user=user, project_id=project_id) for _ in range(2)]
    failed = await stack.create(user=user, prompt="No entities here.")
    for created in [*done, failed]:
        await stack.finished(created["id"], user=user)
    active = [await stack.create(user=user, metadata={"test": {"pace": 20}}) for _ in range(2)]
    cursors = []
    for limit in (1, 2, 3):
        page = await stack.http.get(
            "/v1/generations", params={"limit": limit}, headers=stack.auth(user)
        )
        cursors.append(page.json()["next_cursor"])
    generations = [g["id"] for g in [*done, failed, *active]]
    return FuzzData(generations, [project_id], cursors)


async def test_schemathesis_finds_nothing(
    stack: Stack, tmp_path: Path, request: pytest.FixtureRequest, seed_report: SeedReport
) -> None:
    seed = fuzz_seed()
    backend = request.node.callspec.params["database_url"]
    reproduce = f"{SEED_ENV}={seed} .venv/bin/pytest tests/test_openapi_fuzz.py -k {backend}"
    seed_report.lines.append(f"{request.node.nodeid}: seed {seed}; reproduce with: {reproduce}")
    run = uuid.uuid4().hex[:12]
    owner, peer = f"fuzz-{run}-owner", f"fuzz-{run}-peer"
    data = await seed_data(stack, owner)
    # The fuzzer talks to an API of its own on the same read model whose settings refuse
    # webhook URLs inside the network, as in production. The workflows it starts go to
    # a task queue no worker polls: the HTTP contract is what is under test, and
    # hundreds of full pipelines (each reviewing a project) would only slow it down.
    settings = stack.settings.model_copy(
        update={
            "webhook_allow_private": False,
            "task_queue": f"fuzz-unpolled-{run}",
            "max_active_per_user": 1_000_000,
        }
    )
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)
    server, server_task, base_url = await serve(app)
    users = {owner: stack.token(owner, ttl=3600), peer: stack.token(peer, ttl=3600)}
    try:
        config = write_config(tmp_path, users, data)
        report = await run_schemathesis(config, base_url, seed, PHASES_ON[backend], tmp_path)
    finally:
        server.should_exit = True
        await server_task
    assert report.returncode == 0, (
        f"schemathesis found something (seed {seed}). Reproduce with:\n  {reproduce}\n\n"
        f"{report.text[-12000:]}"
    )
    assert not re.search(r"(?<!\d)0 passed", report.text), report.text[-4000:]


def write_config(tmp_path: Path, users: dict[str, str], data: FuzzData) -> Path:
    # Two identities, so object_level_authorization replays the owner's reads as the peer.
    auth = tmp_path / "auth.json"
    auth.write_text(
        json.dumps(
            {
                "auth": [
                    {
                        "name": name,
                        "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}],
                    }
                    for name, token in users.items()
                ]
            }
        )
    )
    dictionaries = {
        "generations": data.generations,
        "projects": data.projects,
        "paths": ["README.md", "spec.json", "library_service/models.py", "docs/API.md"],
    }
    bindings = {
        "path.generation_id": ("generations", 0.8),
        "path.project_id": ("projects", 0.8),
        "path.path": ("paths", 0.6),
    }
    # Values valid only by the server's state or the world, for tests/fuzz_hooks.py.
    (tmp_path / "real-values.json").write_text(
        json.dumps(
            {
                "cursors": data.cursors,
                "projects": data.projects,
                # Public IP literals: no DNS needed, and nothing is ever delivered
                # (the fuzzer's workflows are never run).
                "webhook_urls": ["https://1.1.1.1/genflow-fuzz", "http://8.8.8.8/hook?x=1"],
            }
        )
    )
    lines = [
        # Every generation has an event stored; waiting for more would take a while.
        "max-stream-events = 1",
        f"hooks = {json.dumps(str(Path(__file__).with_name('fuzz_hooks.py')))}",
        "[generation]",
        # The API refuses NUL anywhere in text (no database column can store it). Text
        # fields say so with a pattern; inside free-form JSON (metadata, variables) no
        # schema says it, so positive cases leave NUL out.
        "allow-x00 = false",
        "[auth.wfc]",
        f"path = {json.dumps(str(auth))}",
        f"peers = {json.dumps(list(users))}",
        "[phases.stateful]",
        f"max-steps = {STATEFUL_STEPS}",
        "[phases.stateful.generation]",
        f"max-examples = {SCENARIOS}",
        # The links the document declares (api/openapi.py), not guessed ones: the
        # scenarios go where clients go (create, then read, change, cancel, delete...).
        "[phases.stateful.inference]",
        "algorithms = []",
        *(
            f"[dictionaries.{name}]\nvalues = {json.dumps(values)}"
            for name, values in dictionaries.items()
        ),
        # The stream of a generation that has not ended stays open (the fuzzer's
        # workflows never run): each is read until this timeout, so a short one.
        "[[operations]]",
        'include-name = "GET /v1/generations/{generation_id}/stream"',
        "request-timeout = 1",
        # The four lists of generations take one set of filters (api/routers/common.py
        # ListQuery): the coverage phase sends its boundary values to the plain list
        # only, about 190 requests that would otherwise go out four times.
        "[[operations]]",
        f"include-name = {json.dumps(LIST_VARIANTS)}",
        "phases.coverage.enabled = false",
        "[parameters]",
        *(
            f'"{key}" = {{ dictionary = "{name}", probability = {probability} }}'
            for key, (name, probability) in bindings.items()
        ),
    ]
    config = tmp_path / "schemathesis.toml"
    config.write_text("\n".join(lines))
    return config


@dataclass
class Report:
    returncode: int
    text: str


def st_arguments(config: Path, base_url: str, seed: int, phases: str) -> Iterator[str]:
    yield from ("--config-file", str(config), "run", f"{base_url}/openapi.json")
    yield from ("--checks", "all", "--phases", phases, "--workers", str(WORKERS))
    yield from ("--max-examples", str(EXAMPLES), "--seed", str(seed))
    yield from ("--generation-database", "none", "--request-timeout", "10", "--no-color")


async def run_schemathesis(
    config: Path, base_url: str, seed: int, phases: str, tmp_path: Path
) -> Report:
    process = await asyncio.create_subprocess_exec(
        str(ST),
        *st_arguments(config, base_url, seed, phases),
        cwd=tmp_path,
        env={**os.environ, "GENFLOW_FUZZ_DATA": str(tmp_path / "real-values.json")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    (tmp_path / "schemathesis.log").write_text(text)
    return Report(process.returncode or 0, text)
