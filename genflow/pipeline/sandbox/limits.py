"""The limits every run of generated code is under: rlimits on address space, CPU time,
processes, file size and open files, inherited by everything it starts, and a nice value
below the API, the workflow tasks and the heartbeats (its other children too: ruff)."""

from __future__ import annotations

from dataclasses import dataclass

NICE = 10  # below the API, the workflow tasks and the heartbeats
SANDBOX_NICE = NICE  # every child of a review runs below the API, workflow tasks, heartbeats


@dataclass(frozen=True)
class SandboxLimits:
    timeout_seconds: float = 60.0  # wall time of one run
    memory_mb: int = 1024  # address space of each process
    run_memory_mb: int = 1024  # all the run's processes and its tmpfs, where a cgroup is
    cpu_seconds: int = 60  # CPU time of each process
    processes: int = 128  # processes and threads of the run's uid
    file_size_mb: int = 64  # the largest file a run may write
    disk_mb: int = 512  # the project's /project (memory-backed)
    tmp_size_mb: int = 256  # the private /tmp (memory-backed)
    open_files: int = 256


def lower_priority(command: list[str]) -> list[str]:
    """`command` at nice SANDBOX_NICE (no preexec_fn: see limited)."""
    return ["nice", "-n", str(SANDBOX_NICE), *command]


def limited(command: list[str], limits: SandboxLimits) -> list[str]:
    """`command` under the rlimits (inherited by everything it starts) at nice NICE,
    through util-linux's `prlimit` and coreutils' `nice`: no Python runs between fork
    and exec (a preexec_fn in a threaded worker can deadlock the child, and the worker
    with it)."""
    mb = 1024 * 1024
    return [
        "prlimit",
        f"--as={limits.memory_mb * mb}",
        f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_size_mb * mb}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
        "nice",
        "-n",
        str(NICE),
        *command,
    ]
