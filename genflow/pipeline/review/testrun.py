"""One run of a generated project's tests: pytest inside the OS sandbox
(genflow.pipeline.sandbox.bubblewrap), its outcome read from the JUnit XML report after the sandbox
has exited, the limits it hit named (genflow.pipeline.review.testrun_report).

The run has only what the project declares (genflow.pipeline.review.declared): its interpreter is
a virtual environment of symlinks to the declared distributions, their requirements and
pytest, made in the run's directory and bound read-only at /venv in the sandbox; which
distributions and pytest plugins it has, see genflow.pipeline.review.testenv.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from genflow.pipeline.review.declared import Dependencies
from genflow.pipeline.review.junit import read_junit_xml
from genflow.pipeline.review.testenv import (
    pytest_command,
    run_environment,
    scrubbed_environment,
)
from genflow.pipeline.review.testrun_report import (
    describe_exit,
    limits_hit,
    memory_limit,
    read_output,
)
from genflow.pipeline.review.view import build_view
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.cgroups import RunCgroup
from genflow.pipeline.sandbox.limits import SandboxLimits, limited
from genflow.pipeline.sandbox.mounts import (
    ENVIRONMENT_DIR,
    OUTPUTS_DIR,
    PROJECT_DIR,
    REPORT_FILE,
)
from genflow.pipeline.sandbox.seccomp import filter_fd

MAX_LISTED = 100  # distributions of the run's environment named in the report


def _start(
    command: list[str],
    root: Path,
    env: dict[str, str],
    output: IO[bytes],
    limits: SandboxLimits,
    cgroup: RunCgroup | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start the run (fork and exec: it does not wait for the child) under the limits,
    at lower priority, in a session of its own; in `cgroup` from its first instruction
    (a shell moves itself in, then becomes the run), so everything it starts is too."""
    argv = limited(command, limits)
    if cgroup is not None:
        argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup.procs), *argv]
    return subprocess.Popen(
        argv,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", **env},
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=pass_fds,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _reaped(pid: int) -> asyncio.Future[tuple[int, resource.struct_rusage]]:
    """A future of (wait status, rusage) of child `pid`, reaped with os.wait4 by a thread of
    its own (so that its CPU time is its own, even with other reviews running)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[int, resource.struct_rusage]] = loop.create_future()

    def settle(result: tuple[int, resource.struct_rusage] | None, error: Exception | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        elif result is not None:
            future.set_result(result)

    def reap() -> None:
        try:
            _, status, usage = os.wait4(pid, 0)
            outcome: tuple[Any, Any] = ((status, usage), None)
        except Exception as err:  # handed to the awaiting task
            outcome = (None, err)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits it any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=reap, name=f"genflow-sandbox-{pid}", daemon=True).start()
    return future


def _kill_group(pid: int) -> None:
    """Kill the run's process group: bwrap (whose PID namespace dies with it) or, without
    the sandbox, pytest's session and whatever it left behind."""
    for kill in (os.killpg, os.kill):  # the process itself too, should its group be gone
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


async def run_tests(
    root: Path,
    limits: SandboxLimits,
    sandbox: Sandbox | None = None,
    dependencies: Dependencies | None = None,
    watched: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run the project's tests with pytest in `root`, inside `sandbox` (None: without
    the OS sandbox, rlimits only; see the unsafe setting), time-limited, in an environment
    of only what `dependencies` declares (None: nothing) and pytest. The outcome is
    read from pytest's JUnit XML report once the sandbox has exited; "sandbox" records
    when it ran (ISO-8601, UTC) and its CPU-seconds, "limits_hit" what it ran into,
    "environment" the distributions the run had, "watched" the outcome of each of the
    `watched` test files that ran (see junit.read_junit_xml)."""
    outputs = Path(tempfile.mkdtemp(prefix="genflow-sandbox-run-"))
    cgroup = None
    seccomp = None
    try:
        view, plugins = await asyncio.to_thread(run_environment, root, dependencies)
        await asyncio.to_thread(build_view, view.distributions, outputs / "venv")
        if sandbox is not None:
            cgroup = await asyncio.to_thread(RunCgroup.make, limits.run_memory_mb)
            seccomp = filter_fd()
        result = await _run_tests(root, outputs, limits, sandbox, cgroup, seccomp, plugins, watched)
        names = view.names()
        environment = {"distributions": names[:MAX_LISTED], "distributions_total": len(names)}
        return {**result, "environment": environment}
    finally:
        if seccomp is not None:
            os.close(seccomp)
        if cgroup is not None:
            await asyncio.to_thread(cgroup.remove)
        shutil.rmtree(outputs, ignore_errors=True)


async def _run_tests(
    root: Path,
    outputs: Path,
    limits: SandboxLimits,
    sandbox: Sandbox | None,
    cgroup: RunCgroup | None,
    seccomp: int | None,
    plugins: list[str],
    watched: tuple[str, ...] = (),
) -> dict[str, Any]:
    if sandbox is not None:
        uid = sandbox.new_uid()
        await asyncio.to_thread(sandbox.prepare, root, outputs, uid)  # walks the project
        python = f"{ENVIRONMENT_DIR}/bin/python"
        inner = pytest_command(root, f"{OUTPUTS_DIR}/{REPORT_FILE}", python, plugins)
        env = scrubbed_environment(PROJECT_DIR, "/tmp")
        command = sandbox.command(
            root, outputs, inner, env, uid, limits, seccomp, environment=outputs / "venv"
        )
        env = {}
        report = outputs / REPORT_FILE
    else:
        (root / ".tmp").mkdir(exist_ok=True)  # the project's own tmp_path and tempfile area
        report = root / f".genflow-junit-{secrets.token_hex(8)}.xml"
        python = str(outputs / "venv" / "bin" / "python")
        command = pytest_command(root, report, python, plugins)
        env = scrubbed_environment(str(root), str(root / ".tmp"))
    # Output goes to a file outside the project, bounded by RLIMIT_FSIZE: no pipe to drain,
    # and nothing the tests leave running can hold the review up by keeping a pipe open.
    with tempfile.TemporaryFile(prefix="genflow-pytest-") as output:
        started_at = _now()
        fds = () if seccomp is None else (seccomp,)
        process = _start(command, root, env, output, limits, cgroup, fds)
        exited = _reaped(process.pid)
        timed_out = False
        try:
            status, usage = await asyncio.wait_for(asyncio.shield(exited), limits.timeout_seconds)
        except TimeoutError:
            timed_out = True
            _kill_group(process.pid)
            status, usage = await exited
        except BaseException:
            # A cancelled review must not leave the sandbox behind.
            _kill_group(process.pid)
            with contextlib.suppress(Exception):
                await asyncio.shield(exited)
            raise
        finally:
            ended_at = _now()
        _kill_group(process.pid)  # whatever the tests left running
        exit_code = os.waitstatus_to_exitcode(status)
        process.returncode = exit_code  # reaped here, not by Popen
        if sandbox is not None and exit_code > 128:  # the sandbox's shell says 128 + signal
            exit_code = -(exit_code - 128)
        tail, scanned = await asyncio.to_thread(read_output, output)
    cpu_seconds = usage.ru_utime + usage.ru_stime
    if sandbox is not None:  # the tree inside, as its shell recorded it (not on a kill)
        cpu_seconds += await asyncio.to_thread(sandbox.cpu_seconds, outputs)
    cpu_seconds = round(cpu_seconds, 3)
    if timed_out:
        outcome: dict[str, Any] = {
            "error": f"pytest did not finish within {limits.timeout_seconds:g} s and was killed"
        }
    else:
        outcome = await asyncio.to_thread(read_junit_xml, report, watched)  # up to 16 MB of XML
        if "error" in outcome:
            outcome["error"] += f"; {describe_exit(exit_code)}"
    return {
        "passed": outcome.get("passed", 0),
        "failed": outcome.get("failed", 0),
        "timed_out": timed_out,
        "exit_code": exit_code,
        "failures": outcome.get("failures", []),
        "failures_total": outcome.get("failures_total", outcome.get("failed", 0)),
        "output_tail": tail,
        "watched": outcome.get("watched", {}),
        **({"error": outcome["error"]} if "error" in outcome else {}),
        "limits_hit": [
            *limits_hit(timed_out, exit_code, cpu_seconds, limits, scanned),
            *(["run_memory"] if cgroup is not None and cgroup.oom_kills() else []),
        ],
        "sandbox": {
            "isolation": "bubblewrap" if sandbox is not None else "none (unsafe setting)",
            "system_calls": "filtered" if seccomp is not None else "not filtered",
            "memory_limit": memory_limit(limits, cgroup),
            "started_at": started_at,
            "ended_at": ended_at,
            "cpu_seconds": cpu_seconds,
        },
    }
