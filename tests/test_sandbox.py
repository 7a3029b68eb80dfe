"""The OS sandbox of generated code (issue 10), end to end: real workers with the `openai`
provider pointed at the scripted server (tests/fake_openai.py) generate hostile projects
whose tests try to escape or exhaust the sandbox and assert that they did. Every probe must
fail, the quality report must say so (and name the limits hit), the worker must keep
running, nothing may outlive the review or change outside the project, and the next honest
generation must be unaffected. Also: fail closed when bubblewrap is missing, and the
templates' projects still score 100 through the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from activities.stages import StageActivities
from api.app import create_app
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.providers.builtin import BuiltinProvider
from genflow.providers.openai_compat import OpenAICompatibleProvider
from tests.conftest import PG, ROOT_DIR, Stack, eventually, serve
from tests.fake_openai import (
    EXPECTED_FAILURES,
    PROBE_PATH,
    REPORT_CASES,
    FakeOpenAI,
    probe_file,
)
from tests.test_openai_provider import API_KEY, DEFAULT_MODEL, PROMPT, OpenAIStack, marker
from worker.assembly import build_worker

# Worker-side behaviour: the read model's backend does not change it.
pytestmark = pytest.mark.postgresql_only

LEFT_BEHIND = f"{PROBE_PATH}::test_zz_leave_processes_behind"  # passes; the host checks
SLEEP_TIMEOUT = 4.0  # the sandbox wall time of the worker that runs hostile-sleep
PG_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"


@dataclass
class Targets:
    """What the escape probes aim at, on the host: a GENFLOW_HOME with a SQLite read model,
    a canary path in a world-writable directory outside the project, a canary in the
    worker's venv, and a process whose environment and command line hold a secret token.
    Everything is readable (or writable) by any uid: only the sandbox keeps probes out."""

    home: Path
    read_model: Path
    canary: Path
    venv_canary: Path
    env_token: str
    helper: asyncio.subprocess.Process

    def home_state(self) -> dict[str, str]:
        return {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.home.iterdir())
        }


@dataclass
class Env:
    """A worker (on a task queue of its own) with the `openai` provider and the given
    sandbox, and an API starting generations there."""

    client: OpenAIStack
    worker_task: asyncio.Task[None]
    api_port: int


def _host_files() -> tuple[Path, Path, Path]:
    """A GENFLOW_HOME (readable by all) with a SQLite read model, and a directory anyone
    may write to, in a new directory of the host's /tmp: (home, read model, outside)."""
    base = Path(tempfile.mkdtemp(prefix="genflow-probe-targets-"))
    base.chmod(0o755)
    home = base / "home"
    home.mkdir(mode=0o755)
    read_model = home / "genflow.db"
    with contextlib.closing(sqlite3.connect(read_model)) as db:
        db.execute("CREATE TABLE generations (id TEXT, prompt TEXT)")
        db.execute("INSERT INTO generations VALUES ('g1', 'a secret prompt')")
        db.commit()
    read_model.chmod(0o644)
    outside = base / "outside"
    outside.mkdir()
    outside.chmod(0o777)
    return home, read_model, outside


@pytest.fixture(scope="module")
async def targets() -> AsyncIterator[Targets]:
    home, read_model, outside = _host_files()
    token = uuid.uuid4().hex
    env_token = f"genflow-env-secret-{token}"
    helper = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import time; time.sleep(600)",
        env_token,
        env={
            "PATH": "/usr/bin:/bin",
            "GENFLOW_PROBE_SECRET": env_token,
            "DATABASE_URL": f"postgresql://genflow:{env_token}@127.0.0.1/genflow",
        },
    )
    targets = Targets(
        home=home,
        read_model=read_model,
        canary=outside / f"escaped-{token}",
        venv_canary=Path(sys.prefix) / f"genflow-probe-{token}",
        env_token=env_token,
        helper=helper,
    )
    yield targets
    helper.kill()
    await helper.wait()
    targets.venv_canary.unlink(missing_ok=True)
    shutil.rmtree(home.parent, ignore_errors=True)


def aim(fake: FakeOpenAI, base_url: str, targets: Targets, stack: Stack, api_port: int) -> None:
    """Render the targets into the probes the fake server hands out (any API port will do:
    every worker's API runs until the module ends)."""
    fake.secrets.update(
        home=str(targets.home),
        read_model=str(targets.read_model),
        worker_tree=str(ROOT_DIR),
        canary=str(targets.canary),
        venv_canary=str(targets.venv_canary),
        postgresql_socket=PG_SOCKET,
        env_token=targets.env_token,
        process_token=f"genflow-probe-process-{uuid.uuid4().hex}",
        ports={
            "postgresql": PG["port"],
            "temporal": int(str(stack.settings.temporal_address).rsplit(":", 1)[1]),
            "api": api_port,
            "model": urlsplit(base_url).port,
        },
    )


@contextlib.asynccontextmanager
async def openai_env(
    stack: Stack,
    fake: FakeOpenAI,
    base_url: str,
    limits: SandboxLimits,
    sandbox: Sandbox,
    max_tokens_per_call: int = 4096,
    **changes: Any,
) -> AsyncIterator[Env]:
    """A worker and an API on a task queue of their own; `changes` to the API's settings."""
    settings = stack.settings.model_copy(
        update={"task_queue": f"sandbox-{uuid.uuid4()}", **changes}
    )
    provider = OpenAICompatibleProvider(
        base_url,
        API_KEY,
        DEFAULT_MODEL,
        timeout_seconds=10,
        max_tokens_per_call=max_tokens_per_call,
    )
    stages = StageActivities(
        stack.repository,
        limits=limits,
        providers={"builtin": BuiltinProvider(), "openai": provider},
        sandbox=sandbox,
    )
    worker = build_worker(stack.temporal, settings, stack.repository, stages)
    worker_task = asyncio.create_task(worker.run())
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)
    server, server_task, api_url = await serve(app)
    port = urlsplit(api_url).port
    assert port is not None
    try:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            yield Env(OpenAIStack(stack, fake, http), worker_task, port)
    finally:
        server.should_exit = True
        await server_task
        await worker.shutdown()
        await worker_task
        await provider.close()


@pytest.fixture(scope="module")
async def sandboxed(
    stack: Stack, fake_server: tuple[FakeOpenAI, str], targets: Targets
) -> AsyncIterator[Env]:
    fake, base_url = fake_server
    async with openai_env(
        stack, fake, base_url, SandboxLimits(timeout_seconds=30), Sandbox()
    ) as env:
        aim(fake, base_url, targets, stack, env.api_port)
        yield env


@pytest.fixture(scope="module")
async def impatient(
    stack: Stack, fake_server: tuple[FakeOpenAI, str], targets: Targets
) -> AsyncIterator[Env]:
    fake, base_url = fake_server
    limits = SandboxLimits(timeout_seconds=SLEEP_TIMEOUT)
    async with openai_env(stack, fake, base_url, limits, Sandbox()) as env:
        aim(fake, base_url, targets, stack, env.api_port)
        yield env


@pytest.fixture(scope="module")
async def without_bwrap(
    stack: Stack, fake_server: tuple[FakeOpenAI, str], targets: Targets
) -> AsyncIterator[Env]:
    fake, base_url = fake_server
    sandbox = Sandbox(bwrap="/nonexistent/bwrap")
    async with openai_env(stack, fake, base_url, SandboxLimits(), sandbox) as env:
        aim(fake, base_url, targets, stack, env.api_port)
        yield env


# -- helpers ----------------------------------------------------------------------------


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["checks"] if c["name"] == name)
    return found


async def generate(env: Env, scenario: str, timeout: float = 60) -> dict[str, Any]:
    """A completed generation of `scenario` (the review scores it; it does not fail it)."""
    generation_id = await env.client.create(f"{PROMPT} {marker(scenario)}")
    done = await env.client.wait_until(
        generation_id, lambda g: g["status"] in ("completed", "failed", "cancelled"), timeout
    )
    assert done["status"] == "completed", done["error"]
    assert all(stage["status"] == "completed" for stage in done["stages"]), done["stages"]
    assert not env.worker_task.done(), "the worker stopped"
    return done


def processes_with(token: str) -> list[int]:
    """Host processes whose command line holds `token`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
    return found


def _status(pid: int | str, key: str) -> str:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith(f"{key}:"))


def _sandbox_init(pid: int) -> int:
    """The topmost ancestor of `pid` in its PID namespace (the sandbox's PID 1), or `pid`
    itself when that namespace is ours."""
    namespace = os.readlink(f"/proc/{pid}/ns/pid")
    if namespace == os.readlink("/proc/self/ns/pid"):
        return pid
    while (parent := int(_status(pid, "PPid"))) > 1:
        try:
            if os.readlink(f"/proc/{parent}/ns/pid") != namespace:
                break
        except OSError:
            break
        pid = parent
    return pid


def kill_leftovers(pids: list[int]) -> list[str]:
    """Kill the sandboxes the leftover `pids` live in (their PID 1 takes the rest with it);
    describe what was left."""
    described = []
    for pid in pids:
        with contextlib.suppress(OSError, StopIteration):
            init = _sandbox_init(pid)
            tree = Path(f"/proc/{init}/cmdline").read_bytes().replace(b"\0", b" ")[:80]
            described.append(
                f"pid {pid} (uid {_status(pid, 'Uid').split()[0]}, sandbox PID 1 = host pid "
                f"{init}: {tree.decode(errors='replace')})"
            )
            os.kill(init, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
    return described


async def assert_nothing_left(token: str) -> None:
    """No process carrying `token` outlives the review (they are killed if they do)."""
    try:
        await eventually(lambda: not processes_with(token), timeout=3, what="no leftovers")
    except AssertionError:
        left = kill_leftovers(processes_with(token))
        raise AssertionError(f"processes outlived the review: {left}") from None


def new_token(env: Env) -> str:
    """A fresh token for the processes the next hostile project leaves behind."""
    token = f"genflow-probe-process-{uuid.uuid4().hex}"
    env.client.fake.secrets["process_token"] = token
    return token


def assert_sandboxed(tests: dict[str, Any]) -> None:
    assert tests["sandbox"]["isolation"] == "bubblewrap", tests
    started = datetime.fromisoformat(tests["sandbox"]["started_at"])
    ended = datetime.fromisoformat(tests["sandbox"]["ended_at"])
    assert started <= ended


# -- tests ------------------------------------------------------------------------------


async def test_escape_probes_all_fail_and_nothing_outside_the_project_changes(
    sandboxed: Env, targets: Targets
) -> None:
    home_before = targets.home_state()
    token = new_token(sandboxed)

    done = await generate(sandboxed, "hostile-escape")

    tests = check(done["quality_report"], "tests")
    assert_sandboxed(tests)
    expected = EXPECTED_FAILURES["hostile-escape"]
    assert sorted(tests["failures"]) == expected, tests["output_tail"]
    assert tests["failed"] == len(expected)
    assert tests["passed"] == 3  # the package's two tests and the one leaving processes
    assert LEFT_BEHIND not in tests["failures"]  # it ran: its processes were started
    assert done["quality_score"] < 75  # scored low, not failed
    # On the host: nothing outlived the review, nothing outside the project changed.
    await assert_nothing_left(token)
    assert not targets.canary.exists()
    assert not targets.venv_canary.exists()
    assert targets.home_state() == home_before
    assert targets.helper.returncode is None  # the process the probes looked for was there


async def test_resource_probes_hit_the_limits(sandboxed: Env) -> None:
    done = await generate(sandboxed, "hostile-resources")

    tests = check(done["quality_report"], "tests")
    assert_sandboxed(tests)
    expected = EXPECTED_FAILURES["hostile-resources"]
    assert sorted(tests["failures"]) == expected, tests["output_tail"]
    assert tests["failed"] == len(expected) and tests["passed"] == 2
    assert {"processes", "memory", "file_size"} <= set(tests["limits_hit"]), tests
    assert not tests["timed_out"]


async def test_a_run_holding_2_gib_across_8_processes_is_stopped_by_its_cgroup(
    sandboxed: Env,
) -> None:
    """Each process stays under the per-process limit; only the whole run's limit (a
    cgroup, where the machine offers one) stops it, and the report says which applied."""
    done = await generate(sandboxed, "hostile-memory")

    tests = check(done["quality_report"], "tests")
    assert_sandboxed(tests)
    applied = tests["sandbox"]["memory_limit"]
    print(f"memory limit that applied: {applied}")
    if "cgroup" not in applied:
        pytest.skip(f"no cgroup on this machine: {applied}")
    assert applied.startswith("1024 MiB for the whole run (cgroup v"), applied
    assert tests["failures"] == EXPECTED_FAILURES["hostile-memory"], tests["output_tail"]
    assert "run_memory" in tests["limits_hit"], tests
    assert tests["sandbox"]["system_calls"] == "filtered"


async def test_a_test_sleeping_forever_is_killed_at_the_wall_time_limit(impatient: Env) -> None:
    token = new_token(impatient)

    done = await generate(impatient, "hostile-sleep")

    tests = check(done["quality_report"], "tests")
    assert_sandboxed(tests)
    assert tests["timed_out"] is True
    assert "timeout" in tests["limits_hit"]
    assert tests["passed"] == 0
    assert "error" in tests
    started = datetime.fromisoformat(tests["sandbox"]["started_at"])
    ended = datetime.fromisoformat(tests["sandbox"]["ended_at"])
    assert SLEEP_TIMEOUT <= (ended - started).total_seconds() < SLEEP_TIMEOUT + 5
    await assert_nothing_left(token)  # pytest's sleeping child, the one left behind


async def test_a_cancelled_review_leaves_no_process(sandboxed: Env) -> None:
    token = new_token(sandboxed)
    generation_id = await sandboxed.client.create(f"{PROMPT} {marker('hostile-sleep')}")
    await eventually(lambda: processes_with(token), timeout=30, what="the probe's processes")

    response = await sandboxed.client.http.post(
        f"/v1/generations/{generation_id}/cancel",
        json={"reason": "stop the sleeper"},
        headers=sandboxed.client.stack.auth(),
    )
    assert response.status_code == 202, response.text
    done = await sandboxed.client.wait_until(
        generation_id, lambda g: g["status"] == "cancelled", timeout=10
    )

    assert done["cancel_reason"] == "stop the sleeper"
    await assert_nothing_left(token)
    assert not sandboxed.worker_task.done()


WORKER = """
import asyncio, sys
from genflow.files import FileOut
from genflow.pipeline.review.report import review
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits
probe = FileOut("tests/test_probe.py", "test", sys.stdin.buffer.read(), "text/x-python")
asyncio.run(review([probe], SandboxLimits(timeout_seconds=60), sandbox=Sandbox()))
"""


async def test_the_sandbox_dies_with_the_worker(fake_server: tuple[FakeOpenAI, str]) -> None:
    """A worker killed mid-review (SIGKILL: nothing of it runs any more) takes the sandbox
    and everything in it along (`--die-with-parent`)."""
    fake, _ = fake_server
    token = f"genflow-probe-process-{uuid.uuid4().hex}"
    probe = probe_file("hostile-sleep", {**fake.secrets, "process_token": token})
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        cwd=ROOT_DIR,
        stdin=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT_DIR)},
    )
    assert worker.stdin is not None
    worker.stdin.write(probe.encode())
    worker.stdin.close()
    try:
        await eventually(lambda: processes_with(token), timeout=30, what="the probe's processes")
    finally:
        worker.kill()
        await worker.wait()

    await assert_nothing_left(token)


async def test_after_hostile_projects_an_honest_one_passes(sandboxed: Env, impatient: Env) -> None:
    for env in (sandboxed, impatient):
        done = await generate(env, "ok")
        tests = check(done["quality_report"], "tests")
        assert_sandboxed(tests)
        assert tests["passed"] > 0 and tests["failed"] == 0, tests["output_tail"]
        assert tests["failures"] == [] and tests["limits_hit"] == []
        assert not tests["timed_out"]
        assert "tests" in done["quality_report"]["measured"]


async def test_without_bubblewrap_generated_code_is_not_run(
    without_bwrap: Env, targets: Targets
) -> None:
    done = await generate(without_bwrap, "ok")

    report = done["quality_report"]
    tests = check(report, "tests")
    assert tests["measured"] is False
    assert tests["reason"].startswith("tests not run: sandbox unavailable: "), tests
    assert "tests" in report["not_measured"] and "tests" not in report["measured"]
    # A hostile project is not run either: none of its probes reach the host.
    token = new_token(without_bwrap)
    hostile = await generate(without_bwrap, "hostile-escape")
    assert check(hostile["quality_report"], "tests")["measured"] is False
    await assert_nothing_left(token)
    assert not targets.canary.exists()
    assert not targets.venv_canary.exists()


async def test_the_probes_do_reach_the_host_without_the_sandbox(
    sandboxed: Env, targets: Targets, tmp_path: Path
) -> None:
    """The control: run unsandboxed (as the worker's user), the escape probes that do no
    lasting harm succeed, so their failing in the sandbox is the sandbox's doing."""
    fake = sandboxed.client.fake
    (tmp_path / "tests").mkdir()
    (tmp_path / PROBE_PATH).write_text(probe_file("hostile-escape", fake.secrets))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        "-o",
        "addopts=",
        "-k",
        # Not the venv canary, nor processes left behind; nor /proc/1/environ, which the
        # host's init may refuse even to root.
        "not leave_processes and not venv and not init_environ",
        PROBE_PATH,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    try:
        assert process.returncode == 0, output.decode()
        passed = len(EXPECTED_FAILURES["hostile-escape"]) - 2
        assert f"{passed} passed".encode() in output, output.decode()
        assert targets.canary.exists()
    finally:
        targets.canary.unlink(missing_ok=True)


async def test_a_flood_of_failures_in_the_junit_report_keeps_every_answer_small(
    sandboxed: Env,
) -> None:
    """The project rewrites pytest's report at exit with about 15 MB of failures: the
    quality report keeps the first few and the count, and no answer grows with it."""
    done = await generate(sandboxed, "hostile-report")

    tests = check(done["quality_report"], "tests")
    assert tests["failed"] == tests["failures_total"] == REPORT_CASES, tests.get("error")
    assert 0 < len(tests["failures"]) <= 20
    assert all(len(node_id) <= 300 for node_id in tests["failures"])
    http, auth = sandboxed.client.http, sandboxed.client.stack.auth()
    one = await http.get(f"/v1/generations/{done['id']}", headers=auth)
    page = await http.get("/v1/generations", params={"limit": 100}, headers=auth)
    assert one.status_code == page.status_code == 200
    assert len(one.content) < 64 * 1024
    listed = next(item for item in page.json()["items"] if item["id"] == done["id"])
    assert len(json.dumps(listed)) < 64 * 1024


async def test_a_file_nested_too_deeply_to_parse_is_a_finding_of_a_completed_review(
    sandboxed: Env,
) -> None:
    done = await generate(sandboxed, "hostile-nesting")

    syntax = check(done["quality_report"], "syntax")
    assert [f["path"] for f in syntax["findings"]] == [PROBE_PATH]
    review = next(stage for stage in done["stages"] if stage["name"] == "code_review")
    assert review["attempts"] == 1  # a finding, not an error that retries the stage
    assert done["quality_score"] < 100
