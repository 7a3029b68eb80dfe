"""The OS sandbox that every run of generated code goes through: bubblewrap.

What runs inside sees:
- its own PID namespace and /proc (no other process), its own network namespace (only
  an empty loopback: no PostgreSQL, Temporal or API), IPC and UTS namespaces;
- read-only: /usr, the Python runtime and the virtual environment the tests need, at
  their own paths, with their parent folders traversable but not listable; and, at
  /venv, the run's own environment of symlinks into them (genflow.pipeline.review.view);
- writable: a copy of the project in /project and a private /tmp, both size-limited
  tmpfs (a run cannot fill the host's disk), and two files of its own on the host: the
  JUnit XML report and the CPU time its shell recorded (/genflow/..., bounded by the
  file-size limit);
- nothing else of the host: not GENFLOW_HOME or the read model, not Temporal's files,
  not the worker's tree, not /root or /home, not other generations' directories;
- an empty environment but for PATH, HOME, TMPDIR, LANG and PYTHON* switches.

It runs as an unprivileged uid of its own (a fresh one per run, so that the process
limit counts this run only; dropped with `setpriv` inside the sandbox when the worker is
root, or bwrap's user namespace when it is not), in a new session, with no new
privileges and no capabilities, under rlimits on address space, CPU time, processes,
file size and open files, at nice 10. The whole tree dies with the sandbox's PID 1: on
timeout, on cancel, when the worker dies (`--die-with-parent`) and when the tests end
(a background process left behind goes with them).

If the sandbox cannot start (bwrap missing, namespaces refused), `SandboxUnavailable`
says why and the caller does not run the code (fail closed).
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.sandbox.mounts import (
    OUTPUT_FILES,
    OUTPUTS_DIR,
    PROJECT_DIR,
    TIMES_FILE,
    mounts,
)
from genflow.pipeline.sandbox.seccomp import filter_fd

TIMES_LIMIT = 4096  # bytes of the times file read
# Each run gets its own uid from this range: nobody else's processes count against
# its process limit, and it owns nothing on the host.
UID_RANGE = (1_000_000, 2_000_000)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here; generated code must not run."""


@dataclass(frozen=True)
class Sandbox:
    """Builds and checks bubblewrap command lines. `bwrap` is the binary (name or
    path); `runtime` the read-only paths the code needs (default: this Python's
    installation and virtual environment)."""

    bwrap: str = "bwrap"
    runtime: tuple[str, ...] = ()

    def binary(self) -> str:
        found = shutil.which(self.bwrap)
        if found is None:
            raise SandboxUnavailable(
                f"bubblewrap ({self.bwrap!r}) is not installed; install the Debian package "
                "`bubblewrap` (make sandbox)"
            )
        return found

    def command(
        self,
        project: Path,
        outputs: Path,
        argv: list[str],
        env: dict[str, str],
        uid: int,
        limits: SandboxLimits,
        seccomp_fd: int | None = None,
        environment: Path | None = None,
    ) -> list[str]:
        """The bwrap command line that copies `project` into the sandbox's /project (a
        size-limited tmpfs) and runs `argv` there. The run writes nothing of the host but
        the files `prepare` made in `outputs` (/genflow/<name> inside), each bounded by
        the file-size limit; a shell waits for `argv` and records its CPU time there.
        `seccomp_fd` holds the system-call filter (genflow/pipeline/sandbox/seccomp.py) that
        bwrap installs before it starts the shell. `environment`, if given, is bound
        read-only at ENVIRONMENT_DIR."""
        script = (
            'cp -R /src/. /project/ || exit 125; cd /project || exit 125; "$@"; code=$?; '
            f"times > {OUTPUTS_DIR}/{TIMES_FILE} 2>/dev/null; exit $code"
        )
        args = [
            self.binary(),
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            # bwrap's own init is PID 1: it dies with bwrap (and bwrap with the worker),
            # and every process of the namespace dies with it.
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
        ]
        args += mounts(self.runtime, project, outputs, limits, environment)
        args += ["--chdir", PROJECT_DIR, "--clearenv"]
        for name, value in sorted(env.items()):
            args += ["--setenv", name, value]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        shell = ["/bin/sh", "-c", script, "sh", *argv]
        if os.geteuid() == 0:
            # Root creates the namespaces and mounts; the code runs as `uid` on the
            # host too (not root in a user namespace), without any capability.
            return [
                *args,
                "--",
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                *shell,
            ]
        # Not root: a user namespace of its own, in which no further one can be made.
        nested = ["--disable-userns"] if _bwrap_can_disable_userns(args[0]) else []
        user = ["--unshare-user", *nested, "--uid", str(uid), "--gid", str(uid)]
        return [*args, *user, "--", *shell]

    def new_uid(self) -> int:
        """A uid of its own for one run (the worker's own when it is not root)."""
        if os.geteuid() != 0:
            return os.geteuid()
        return UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])

    def prepare(self, project: Path, outputs: Path, uid: int) -> None:
        """Make the run's files in `outputs` (empty, the run's uid's) and let that uid
        read the project it copies in."""
        for name in OUTPUT_FILES:
            (outputs / name).touch()
        if os.geteuid() != 0:
            return
        for path in (outputs, *(outputs / name for name in OUTPUT_FILES)):
            os.chown(path, uid, uid)
        for root, dirs, files in os.walk(project):
            for name in (*dirs, *files):
                os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
        os.chown(project, uid, uid)

    @staticmethod
    def cpu_seconds(outputs: Path) -> float:
        """The CPU time of the sandboxed command's tree, as its shell recorded it (two
        short lines; the sandboxed code could write more, so only the start is read)."""
        try:  # the sandbox's file: at most TIMES_LIMIT bytes, no symlink, no FIFO
            fd = os.open(outputs / TIMES_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return 0.0
        with os.fdopen(fd, "rb") as times:
            if not stat.S_ISREG(os.fstat(times.fileno()).st_mode):
                return 0.0
            lines = times.read(TIMES_LIMIT).decode(errors="replace").splitlines()
        if len(lines) < 2:
            return 0.0
        return sum(_shell_time(value) for value in lines[1].split())

    async def ensure_available(self) -> None:
        """SandboxUnavailable (with the reason) unless a sandbox starts here; checked
        once per process, so a worker that cannot sandbox says so at once and always."""
        if self not in _AVAILABILITY:
            try:
                await self.check()
                _AVAILABILITY[self] = None
            except SandboxUnavailable as err:
                _AVAILABILITY[self] = str(err)
        reason = _AVAILABILITY[self]
        if reason is not None:
            raise SandboxUnavailable(reason)

    async def check(self, timeout: float = 10.0) -> None:
        """Start an empty sandbox; SandboxUnavailable with the reason if it cannot."""
        probe = Path(tempfile.mkdtemp(prefix="genflow-sandbox-check-"))
        try:
            (probe / "project").mkdir()
            (probe / "outputs").mkdir()
            uid = self.new_uid()
            self.prepare(probe / "project", probe / "outputs", uid)
            seccomp = filter_fd()
            argv = self.command(
                probe / "project",
                probe / "outputs",
                [sys.executable, "-c", "pass"],
                {},
                uid,
                SandboxLimits(),
                seccomp,
            )
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    pass_fds=() if seccomp is None else (seccomp,),
                )
                _, err = await asyncio.wait_for(process.communicate(), timeout)
            except (OSError, TimeoutError) as exc:
                raise SandboxUnavailable(f"bubblewrap could not start: {exc}") from exc
            finally:
                if seccomp is not None:
                    os.close(seccomp)
            if process.returncode != 0:
                reason = err.decode(errors="replace").strip() or f"exit {process.returncode}"
                raise SandboxUnavailable(f"bubblewrap could not start a sandbox: {reason}")
        finally:
            shutil.rmtree(probe, ignore_errors=True)


_AVAILABILITY: dict[Sandbox, str | None] = {}


@functools.cache
def _bwrap_can_disable_userns(binary: str) -> bool:
    """Whether this bubblewrap has `--disable-userns` (0.8 and later)."""
    try:
        shown = subprocess.run([binary, "--help"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--disable-userns" in shown.stdout + shown.stderr


def _shell_time(value: str) -> float:
    """`1m2.500000s` (the shell's `times`) in seconds."""
    minutes, _, seconds = value.rstrip("s").partition("m")
    try:
        return float(minutes) * 60 + float(seconds)
    except ValueError:
        return 0.0
