"""The servers `bench/api.py` measures, on loopback: a Temporal dev server, and the API
served by uvicorn either in a subprocess (`python -m genflow.cli api`, exactly what
production runs, so the client and the server do not share one event loop) or in this
process. No worker runs: created workflows just wait in Temporal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from bench.procs import process_cpu_split
from genflow.db.engine import make_engine
from genflow.settings import Settings
from tests.support import eventually, free_port, serve, start_dev_server

ROOT = Path(__file__).resolve().parents[1]
TASK_QUEUE = "bench"
UNLIMITED = 10**9  # the per-user limits: the benchmark's user creates as fast as it can


@dataclass
class Server:
    base_url: str
    cpu_seconds: Callable[[], float] | None  # CPU time the API process has used so far


@contextlib.asynccontextmanager
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server from the `temporal` binary next to the interpreter (it is
    never downloaded), with genflow's search attributes."""
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


async def wait_ready(base_url: str, running: Callable[[], bool], seconds: float = 60) -> None:
    """Until `GET /readyz` answers 200; fails at once if `running()` turns false."""
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:

        async def ready() -> bool:
            if not running():
                raise RuntimeError("the API exited before it was ready")
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get("/readyz")).status_code == 200
            return False

        await eventually(ready, seconds, 0.2, f"the API at {base_url} to be ready")


@contextlib.asynccontextmanager
async def api_subprocess(
    database_url: str, temporal_address: str, jwt_secret: str, home: Path, log_path: Path
) -> AsyncIterator[Server]:
    """`python -m genflow.cli api` on a free port, its output in `log_path`."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "GENFLOW_JWT_SECRET": jwt_secret,
        "GENFLOW_TASK_QUEUE": TASK_QUEUE,
        "GENFLOW_MAX_ACTIVE_PER_USER": str(UNLIMITED),
        "GENFLOW_MAX_CREATES_PER_MINUTE": str(UNLIMITED),
        "GENFLOW_HOME": str(home),
    }
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "genflow.cli",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            await wait_ready(base_url, lambda: process.returncode is None)
        except Exception:
            text = await asyncio.to_thread(log_path.read_text, errors="replace")
            sys.stderr.write(text[-4000:])
            raise
        linux = sys.platform.startswith("linux")
        yield Server(base_url, (lambda: process_cpu_split(process.pid)[0]) if linux else None)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def api_in_process(
    database_url: str, env: WorkflowEnvironment, jwt_secret: str
) -> AsyncIterator[Server]:
    """The API app served by uvicorn in this process's event loop, on a free port."""
    engine = make_engine(database_url)
    settings = Settings(
        database_url=database_url,
        temporal_address=env.client.service_client.config.target_host,
        task_queue=TASK_QUEUE,
        jwt_secret=SecretStr(jwt_secret),
        max_active_per_user=UNLIMITED,
        max_creates_per_minute=UNLIMITED,
    )
    try:
        server, task, base_url = await serve(
            create_app(settings, engine=engine, temporal=env.client)
        )
        try:
            await wait_ready(base_url, lambda: not task.done())
            yield Server(base_url, None)
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)
    finally:
        await engine.dispose()
