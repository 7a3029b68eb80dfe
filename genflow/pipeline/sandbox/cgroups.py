"""A memory limit for a whole sandboxed run, through a cgroup of its own.

The rlimits bound each process (address space); a run of many processes, and what it
writes to its memory-backed /project and /tmp, is bounded only by a cgroup: every
page any process of the run touches, tmpfs pages included, counts against one limit,
and past it the kernel's OOM killer stops a process of that run and no other.

Where: a cgroup v2 hierarchy whose cgroup (the worker's) lets its children use the
memory controller (a delegated systemd unit, a container's own namespace), else the
cgroup v1 memory hierarchy when the worker may create cgroups there (root, most
containers). Neither (an unprivileged worker without delegation): `RunCgroup.make`
answers None and the per-process rlimits are the only memory limit.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
OWN_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class RunCgroup:
    """One run's cgroup: `path` (its directory) in a v1 or v2 hierarchy."""

    path: Path
    version: int

    @staticmethod
    def make(limit_mb: int) -> RunCgroup | None:
        """A new cgroup limited to `limit_mb` MiB of memory (no swap), or None where
        the machine offers no cgroup this process may make."""
        for version, parent in _parents():
            path = parent / f"genflow-run-{secrets.token_hex(6)}"
            try:
                path.mkdir()
            except OSError:
                continue
            cgroup = RunCgroup(path, version)
            try:
                cgroup._limit(limit_mb * 1024 * 1024)
            except OSError:
                cgroup.remove()
                continue
            return cgroup
        return None

    def _limit(self, limit: int) -> None:
        if self.version == 2:
            (self.path / "memory.max").write_text(str(limit))
            with contextlib.suppress(OSError):  # no swap accounting: nothing to limit
                (self.path / "memory.swap.max").write_text("0")
        else:
            (self.path / "memory.limit_in_bytes").write_text(str(limit))
            with contextlib.suppress(OSError):
                (self.path / "memory.memsw.limit_in_bytes").write_text(str(limit))

    @property
    def procs(self) -> Path:
        """Write a pid here to move that process (and what it starts later) in."""
        return self.path / "cgroup.procs"

    def oom_kills(self) -> int:
        """How many processes of the run the kernel killed for this cgroup's limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            lines = (self.path / name).read_text().splitlines()
        except OSError:
            return 0
        counts = dict(line.split(maxsplit=1) for line in lines if " " in line)
        kills = int(counts.get("oom_kill", "0"))
        if self.version == 1 and not kills:  # kernels without the oom_kill count
            with contextlib.suppress(OSError, ValueError):
                failures = int((self.path / "memory.failcnt").read_text())
                kills = 1 if failures and counts.get("under_oom", "0") != "0" else 0
        return kills

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (a dying one may take a
        moment to leave it)."""
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def _parents() -> list[tuple[int, Path]]:
    """Where this process may make a memory-limited cgroup, best first."""
    try:
        own = OWN_CGROUP.read_text().splitlines()
        mounts = MOUNTINFO.read_text().splitlines()
    except OSError:
        return []
    found: list[tuple[int, Path]] = []
    for line in own:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "":
            mount = _mount(mounts, "cgroup2", None)
            if mount is not None:
                parent = _inside(mount, path)
                if parent is not None and _v2_delegates_memory(parent):
                    found.append((2, parent))
        elif "memory" in controllers.split(","):
            mount = _mount(mounts, "cgroup", "memory")
            if mount is not None:
                parent = _inside(mount, path)
                if parent is not None and (parent / "memory.limit_in_bytes").exists():
                    found.append((1, parent))
    return sorted(found, key=lambda item: -item[0])


def _mount(mounts: list[str], fstype: str, option: str | None) -> tuple[str, Path] | None:
    """(root within the hierarchy, mount point) of the first such cgroup mount."""
    for line in mounts:
        fields, _, tail = line.partition(" - ")
        parts, rest = fields.split(), tail.split()
        if len(parts) < 5 or len(rest) < 3 or rest[0] != fstype:
            continue
        if option is None or option in rest[2].split(","):
            return parts[3], Path(parts[4])
    return None


def _inside(mount: tuple[str, Path], path: str) -> Path | None:
    root, point = mount
    if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
        return None
    relative = path[len(root) :] if root != "/" else path
    located = point / relative.lstrip("/")
    return located if located.is_dir() else None


def _v2_delegates_memory(parent: Path) -> bool:
    """Whether children of `parent` can have a memory limit: the controller is on in
    its subtree, or can be turned on (not when processes live in it, the worker's)."""
    try:
        if "memory" in (parent / "cgroup.subtree_control").read_text().split():
            return True
        if "memory" not in (parent / "cgroup.controllers").read_text().split():
            return False
        (parent / "cgroup.subtree_control").write_text("+memory")
        return True
    except OSError:
        return False
