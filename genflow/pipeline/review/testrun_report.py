"""What a test run's report says beyond its results: the tail of its output, how it
exited, the memory limits it had and the limits it ran into."""

from __future__ import annotations

import os
import re
import signal
from typing import IO

from genflow.pipeline.sandbox.cgroups import RunCgroup
from genflow.pipeline.sandbox.limits import SandboxLimits

OUTPUT_TAIL = 2000  # characters of pytest's output kept in the report
OUTPUT_SCAN = 4 * 1024 * 1024  # bytes of output searched for the signs of a limit
# What a process prints when it runs into each limit (Python ignores SIGXFSZ, so a
# write past the file-size limit fails with EFBIG "File too large").
LIMIT_SIGNS = {
    "memory": re.compile(rb"MemoryError|Cannot allocate memory"),
    "processes": re.compile(
        rb"Resource temporarily unavailable|can't start new thread|BlockingIOError"
    ),
    "file_size": re.compile(rb"File too large|\[Errno 27\]"),
}


def memory_limit(limits: SandboxLimits, cgroup: RunCgroup | None) -> str:
    """Which memory limits a run had, in words (the report says it)."""
    each = f"{limits.memory_mb} MiB of address space per process"
    if cgroup is None:
        return f"{each} (no cgroup available: per-process limits only)"
    return f"{limits.run_memory_mb} MiB for the whole run (cgroup v{cgroup.version}), {each}"


def read_output(output: IO[bytes]) -> tuple[str, bytes]:
    """The tail of the output kept in the report, and the part searched for limits."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - OUTPUT_SCAN))
    scanned = output.read()
    return scanned[-4 * OUTPUT_TAIL :].decode(errors="replace")[-OUTPUT_TAIL:], scanned


def describe_exit(code: int | None) -> str:
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
