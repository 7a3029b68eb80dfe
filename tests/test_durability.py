"""Crashes lose nothing: a worker killed mid-stage, an API that dies after starting a
workflow, a workflow start that fails."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from api.app import create_app
from genflow.db.models import Generation
from genflow.db.repository import GenerationRepository
from genflow.domain import STAGES
from tests.conftest import LIBRARY, Stack, closed, eventually, serve
from tests.test_generation_end_to_end import EXPECTED_PATHS

ROOT = Path(__file__).resolve().parents[1]


def start_worker(
    database_url: str, temporal_address: str, task_queue: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "GENFLOW_TASK_QUEUE": task_queue,
        # These workers are killed: the workflows one had cached go on 2 s later, not 10.
        "GENFLOW_STICKY_QUEUE_SECONDS": "2",
        # Their reconciler settles what was closed while they were down at its next pass.
        "GENFLOW_RECONCILE_EVERY_SECONDS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scripted_worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_for_row(
    repository: GenerationRepository,
    generation_id: uuid.UUID,
    check: Callable[[Generation], bool],
    timeout: float = 60,
) -> Generation:
    """The generation's row once `check` holds for it."""
    last: Generation | None = None

    async def matching() -> Generation | None:
        nonlocal last
        last = await repository.get(generation_id)
        return last if last is not None and check(last) else None

    row: Generation = await eventually(
        matching,
        timeout,
        what=lambda: f"the row of {generation_id}; last status {last and last.status}",
    )
    return row


async def test_worker_killed_mid_stage_resumes_without_duplicates(
    stack: Stack, database_url: str, temporal_address: str
) -> None:
    task_queue = f"kill-{uuid.uuid4()}"
    # The killed attempt is given up after 2 s without a heartbeat, not the default 5.
    settings = stack.settings.model_copy(
        update={"task_queue": task_queue, "stage_heartbeat_timeout_seconds": 2}
    )
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)
    server, server_task, base_url = await serve(app)
    worker = start_worker(database_url, temporal_address, task_queue)
    try:
        response = await stack.http.post(
            f"{base_url}/v1/generations",
            json={"prompt": LIBRARY, "metadata": {"test": {"pace": {"code_generation": 1.0}}}},
            headers=stack.auth(),
        )
        assert response.status_code == 202, response.text
        generation_id = uuid.UUID(response.json()["id"])
        await wait_for_row(
            stack.repository,
            generation_id,
            lambda row: {s.name: s.status for s in row.stages}["code_generation"] == "running",
        )

        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker = start_worker(database_url, temporal_address, task_queue)
        row = await wait_for_row(
            stack.repository, generation_id, lambda row: row.status != "processing"
        )
    finally:
        worker.terminate()
        worker.wait()
        server.should_exit = True
        await server_task

    assert row.status == "completed", (row.error_code, row.error_message)
    stages = {s.name: s for s in row.stages}
    assert [s.status for s in row.stages] == ["completed"] * len(STAGES)
    assert stages["code_generation"].attempts == 2
    assert stages["schema_extraction"].attempts == 1
    assert {a.path for a in row.artifacts} == EXPECTED_PATHS
    events = await stack.repository.events_after(generation_id, 0)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    artifact_events = Counter(e.data["path"] for e in events if e.event == "artifact")
    assert artifact_events == Counter({path: 1 for path in EXPECTED_PATHS})
    assert [e.event for e in events].count("done") == 1
    completed = [
        e.data["stage"] for e in events if e.event == "stage" and e.data["status"] == "completed"
    ]
    assert completed == list(STAGES)


CRASH_AFTER_START = """
import asyncio, os, sys
from genflow.db.engine import make_engine, make_session_maker
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.settings import Settings
from genflow.temporal import connect
from api.generations.schemas import GenerationCreate
from api.generations.service import GenerationService

class DiesBeforeInsert(GenerationRepository):
    async def insert_generation(self, new):
        print(new.id, flush=True)
        os._exit(137)  # the API process dies between the start and the insert

async def main():
    settings = Settings()
    sessions = make_session_maker(make_engine(settings.resolved_database_url))
    client = await connect(settings)
    projects = ProjectRepository(sessions)
    service = GenerationService(DiesBeforeInsert(sessions), projects, client, settings)
    user, key = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ("crash-user", None)
    await service.create(user, GenerationCreate(prompt=sys.argv[1]), idempotency_key=key)

if __name__ == "__main__":
    asyncio.run(main())
"""


async def test_api_dying_after_workflow_start_leaves_no_orphan(
    stack: Stack, database_url: str, temporal_address: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "GENFLOW_TASK_QUEUE": stack.settings.task_queue,
    }
    crashed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASH_AFTER_START,
        LIBRARY,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await crashed.communicate()
    assert crashed.returncode == 137
    generation_id = uuid.UUID(output.decode().strip())

    # The workflow exists and inserts the row itself.
    handle = stack.temporal.get_workflow_handle(f"gen-{generation_id}")
    row = await wait_for_row(stack.repository, generation_id, lambda r: r.status == "completed")
    assert row.user_id == "crash-user"
    assert row.prompt == LIBRARY
    assert (await closed(handle)).status == WorkflowExecutionStatus.COMPLETED
    events = await stack.repository.events_after(generation_id, 0)
    assert [e.data["status"] for e in events if e.event == "status"] == [
        "pending",
        "processing",
        "completed",
    ]


async def test_failed_workflow_start_creates_no_row(stack: Stack) -> None:
    # A client for a Temporal that is not there: every start fails.
    unreachable = await Client.connect("127.0.0.1:1", lazy=True)
    app = create_app(stack.settings, engine=stack.engine, temporal=unreachable)
    server, server_task, base_url = await serve(app)
    user = f"nostart-{uuid.uuid4()}"
    try:
        response = await stack.http.post(
            f"{base_url}/v1/generations", json={"prompt": LIBRARY}, headers=stack.auth(user)
        )
    finally:
        server.should_exit = True
        await server_task

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "nothing was created" in response.json()["detail"]
    rows, _ = await stack.repository.list_for_user(user)
    assert rows == []
