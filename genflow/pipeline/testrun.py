"""One run of a generated project's tests: pytest inside the OS sandbox
(genflow.pipeline.sandbox), its outcome read from the JUnit XML report after the sandbox
has exited, the limits it hit named.

The run has only what the project declares (genflow.pipeline.declared): its interpreter is
a virtual environment of symlinks to the declared distributions, their requirements and
pytest, made in the run's directory and bound read-only at /venv in the sandbox. pytest
loads the plugins of those distributions, as it would for the project's owner; a project
that declares nothing (no pyproject.toml) gets pytest and the installed plugins it mentions.

CPU: pytest loads only its built-in plugins and, explicitly, those plugins, instead of every
installed package's plugin (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1): `bench/review_cpu.py`
measures the effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from packaging.utils import canonicalize_name

from genflow.pipeline.cgroups import RunCgroup
from genflow.pipeline.declared import RUNNER, Dependencies, Resolution, resolve
from genflow.pipeline.junit import read_junit_xml
from genflow.pipeline.sandbox import (
    ENVIRONMENT_DIR,
    NICE,
    OUTPUTS_DIR,
    PROJECT_DIR,
    REPORT_FILE,
    Sandbox,
    SandboxLimits,
    limited,
)
from genflow.pipeline.seccomp import filter_fd
from genflow.pipeline.view import build_view

SANDBOX_NICE = NICE  # every child of a review runs below the API, workflow tasks, heartbeats
OUTPUT_TAIL = 2000  # characters of pytest's output kept in the report
OUTPUT_SCAN = 4 * 1024 * 1024  # bytes of output searched for the signs of a limit
MAX_LISTED = 100  # distributions of the run's environment named in the report
# `-p no:...`: not loaded, unless the project declares the plugin's distribution
PYTEST_BLOCKED = ("cacheprovider", "asyncio")
# What a process prints when it runs into each limit (Python ignores SIGXFSZ, so a
# write past the file-size limit fails with EFBIG "File too large").
LIMIT_SIGNS = {
    "memory": re.compile(rb"MemoryError|Cannot allocate memory"),
    "processes": re.compile(
        rb"Resource temporarily unavailable|can't start new thread|BlockingIOError"
    ),
    "file_size": re.compile(rb"File too large|\[Errno 27\]"),
}


def lower_priority(command: list[str]) -> list[str]:
    """`command` at nice SANDBOX_NICE (no preexec_fn: see sandbox.limited)."""
    return ["nice", "-n", str(SANDBOX_NICE), *command]


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


def memory_limit(limits: SandboxLimits, cgroup: RunCgroup | None) -> str:
    """Which memory limits a run had, in words (the report says it)."""
    each = f"{limits.memory_mb} MiB of address space per process"
    if cgroup is None:
        return f"{each} (no cgroup available: per-process limits only)"
    return f"{limits.run_memory_mb} MiB for the whole run (cgroup v{cgroup.version}), {each}"


@functools.cache
def _installed_plugins() -> tuple[tuple[str, str, tuple[bytes, ...]], ...]:
    """The installed pytest plugins (entry point name, canonical distribution name, words
    naming them): the entry point, its distribution and its top-level module."""
    plugins = []
    for point in entry_points(group="pytest11"):
        words = {point.name, point.value.split(".")[0].split(":")[0]}
        dist = "" if point.dist is None else canonicalize_name(point.dist.name)
        if point.dist is not None:
            words.add(point.dist.name.lower().replace("-", "_"))
        plugins.append((point.name, dist, tuple(sorted(w.encode() for w in words if w))))
    return tuple(plugins)


def run_environment(root: Path, dependencies: Dependencies | None) -> tuple[Resolution, list[str]]:
    """The distributions of the run's environment (what the project declares, and pytest)
    and the pytest plugins to load: those of its distributions. Blocking."""
    if dependencies is not None and dependencies.declaration.source is not None:
        view = resolve(dependencies.view, dependencies.declaration.name)
        names = {dist.name for dist in view.distributions}
        return view, [name for name, dist, _ in _installed_plugins() if dist in names]
    mentioned = _plugins_for(root)
    dists = sorted({d for name, d, _ in _installed_plugins() if name in mentioned and d})
    return resolve((RUNNER, *dists)), mentioned


def _plugins_for(root: Path) -> list[str]:
    """The installed pytest plugins the project's Python files or configuration mention (an
    `anyio` marker or fixture, a `hypothesis` import, ...). Only these are loaded: the
    others cannot be what the project's tests rely on, and loading every installed
    package's plugin is most of a small project's test run (schemathesis, hypothesis)."""
    plugins = _installed_plugins()
    if not plugins:
        return []
    texts = [
        path.read_bytes()
        for path in root.rglob("*")
        if path.suffix in (".py", ".toml", ".ini", ".cfg") and path.is_file()
    ]
    return [
        name
        for name, _, words in plugins
        if name not in PYTEST_BLOCKED and any(w in t for t in texts for w in words)
    ]


def _environment(home: str, tmp: str) -> dict[str, str]:
    """A scrubbed environment: no secrets, no DATABASE_URL, nothing of the worker's."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def pytest_command(
    root: Path,
    junit_xml: Path | str,
    python: str = sys.executable,
    plugins: list[str] | None = None,
) -> list[str]:
    """The pytest command line of a test run of the project in `root` with `python`,
    loading `plugins` (by default the installed ones the project mentions)."""
    loaded = _plugins_for(root) if plugins is None else plugins
    blocked = [arg for name in PYTEST_BLOCKED if name not in loaded for arg in ("-p", f"no:{name}")]
    return [
        python,
        "-m",
        "pytest",
        "-q",
        *blocked,
        *(arg for name in loaded for arg in ("-p", name)),
        "--no-header",
        "-o",
        "addopts=",
        "-o",
        "junit_family=xunit1",  # testcases carry their file: failures name pytest node ids
        f"--junitxml={junit_xml}",
    ]


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


def _output(output: IO[bytes]) -> tuple[str, bytes]:
    """The tail of the output kept in the report, and the part searched for limits."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - OUTPUT_SCAN))
    scanned = output.read()
    return scanned[-4 * OUTPUT_TAIL :].decode(errors="replace")[-OUTPUT_TAIL:], scanned


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "its exit status is unknown"
    if code < 0:
        try:
            return f"it was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"it was killed by signal {-code}"
    return f"it exited with code {code}"


def limits_hit(
    timed_out: bool, exit_code: int, cpu_seconds: float, limits: SandboxLimits, output: bytes
) -> list[str]:
    """The limits the run ran into, from its end and what it printed."""
    hit = ["timeout"] if timed_out else []
    if exit_code == -signal.SIGXCPU or (
        exit_code == -signal.SIGKILL and not timed_out and cpu_seconds >= limits.cpu_seconds
    ):
        hit.append("cpu")
    hit += [name for name, sign in LIMIT_SIGNS.items() if sign.search(output)]
    return hit


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
        env = _environment(PROJECT_DIR, "/tmp")
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
        env = _environment(str(root), str(root / ".tmp"))
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
        tail, scanned = await asyncio.to_thread(_output, output)
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
            outcome["error"] += f"; {_describe_exit(exit_code)}"
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
