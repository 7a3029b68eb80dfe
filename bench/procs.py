"""Processes the benchmarks start, and the CPU time they use, from Linux /proc.

Every child is started by `spawn`, which makes this process the child subreaper of
everything below it: bubblewrap (the sandbox of the generated tests) exits without
reaping its PID-namespace init, so the tests' CPU time never reaches the worker's
cutime; as a subreaper this process inherits such orphans, and `orphan_cpu_seconds`
counts their CPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
from functools import cache
from pathlib import Path

from tests.support import alive, children

CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_SPAWNED: set[int] = set()  # the children this process started itself
_ORPHAN_CPU = [0.0]  # CPU seconds of the orphans reaped so far


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, parents before their children."""
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out


def _stat_times(pid: int) -> list[int]:
    """utime, stime, cutime, cstime of `pid` in clock ticks (zeros if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return [0, 0, 0, 0]
    # After the command's closing parenthesis, field 3 (state) comes first; utime,
    # stime, cutime and cstime are fields 14-17.
    return [int(v) for v in stat[stat.rfind(")") + 2 :].split()[11:15]]


def process_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid`: its own CPU and its reaped children's."""
    return sum(_stat_times(pid)) / CLK_TCK


def process_cpu_split(pid: int) -> tuple[float, float]:
    """(utime + stime, cutime + cstime) of `pid`: its own CPU and its reaped children's."""
    utime, stime, cutime, cstime = _stat_times(pid)
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def own_cpu() -> float:
    """CPU seconds (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float:
    """CPU-seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLK_TCK


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@cache
def become_subreaper() -> None:
    """Make this process the child subreaper of everything below it (once): orphans of
    its descendants become its children, so their CPU time can still be counted."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a child of this process, its output appended to `log`. Call it from the
    main thread: the PDEATHSIG that ends the child with this process fires when the
    thread that forked it ends."""
    become_subreaper()
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    _SPAWNED.add(process.pid)
    return process


def orphans() -> list[int]:
    """Children of this process it did not start: orphans of the trees it started."""
    return [p for p in children(os.getpid()) if p not in _SPAWNED]


def reap_orphans() -> None:
    """Reap the orphans that exited, adding their CPU (own and reaped) to the total."""
    for pid in orphans():
        if alive(pid):
            continue
        cpu = process_cpu_seconds(pid)
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                _ORPHAN_CPU[0] += cpu


def orphan_cpu_seconds() -> float:
    """CPU of every orphan so far: the reaped ones and the live ones (with their trees)."""
    reap_orphans()
    live = sum(process_cpu_seconds(q) for p in orphans() for q in [p, *descendants(p)])
    return _ORPHAN_CPU[0] + live
