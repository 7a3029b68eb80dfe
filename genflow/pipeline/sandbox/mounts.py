"""What the sandbox sees of the file system: the system folders and the runtime
read-only, size-limited tmpfs at /project and /tmp, the project's copy source, the run's
environment at /venv and its two output files (see genflow.pipeline.sandbox.bubblewrap)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from genflow.pipeline.sandbox.limits import SandboxLimits

PROJECT_DIR = "/project"
OUTPUTS_DIR = "/genflow"  # the run's only host-backed files, one bind mount each
ENVIRONMENT_DIR = "/venv"  # the run's virtual environment (genflow.pipeline.review.view)
REPORT_FILE = "report.xml"
TIMES_FILE = "times"
OUTPUT_FILES = (REPORT_FILE, TIMES_FILE)
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/sbin")


def runtime_paths(runtime: tuple[str, ...]) -> list[str]:
    """The read-only paths of `runtime` (default: this Python's installation and virtual
    environment), each bound once: none inside a system folder or another of them."""
    paths = runtime or (sys.base_prefix, sys.prefix)
    kept: list[str] = []
    for path in sorted({str(Path(p).resolve()) for p in paths}):
        if any(path == d or path.startswith(d + "/") for d in (*SYSTEM_DIRS, *kept)):
            continue
        kept.append(path)
    return kept


def mounts(
    runtime: tuple[str, ...],
    project: Path,
    outputs: Path,
    limits: SandboxLimits,
    environment: Path | None,
) -> list[str]:
    """The bwrap arguments that build the sandbox's file system: `project` at /src (the
    shell copies it into /project), `outputs`' files at /genflow/<name>, `environment`,
    if given, read-only at ENVIRONMENT_DIR, and /proc and /dev of the sandbox's own."""
    args: list[str] = []
    for system in SYSTEM_DIRS:
        host = Path(system)
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), system]
        elif host.is_dir():
            args += ["--ro-bind", system, system]
    mb = 1024 * 1024
    # The private tmpfs first: a runtime that lives under /tmp on the host (a venv
    # in a checkout there) is bound on top of it, not hidden by it.
    args += ["--perms", "01777", "--size", str(limits.tmp_size_mb * mb), "--tmpfs", "/tmp"]
    args += ["--perms", "01777", "--size", str(limits.disk_mb * mb), "--tmpfs", PROJECT_DIR]
    made: set[str] = {"/tmp", PROJECT_DIR}
    for path in runtime_paths(runtime):
        # Parents traversable (0711) but not listable: /root shows nothing else.
        for parent in reversed(Path(path).parents):
            if str(parent) != "/" and str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0711", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    if environment is not None:
        args += ["--ro-bind", str(environment), ENVIRONMENT_DIR]
    args += ["--ro-bind", str(project), "/src"]
    args += ["--perms", "0755", "--dir", OUTPUTS_DIR]
    for name in OUTPUT_FILES:
        args += ["--bind", str(outputs / name), f"{OUTPUTS_DIR}/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    return args
