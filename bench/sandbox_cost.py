"""The sandbox's own cost per run: CPU and wall time of `python -c pass` inside
bubblewrap (namespaces, mounts, setpriv, the waiting shell) beside the same command run
directly, each measured as the CPU of every process of the run (this process is their
subreaper), median of N runs.

Run: `.venv/bin/python -m bench.sandbox_cost [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.procs import become_subreaper
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits


def measure(command: list[str]) -> tuple[float, float]:
    """CPU-seconds (the whole tree) and wall seconds of one run of `command`. This
    process is a subreaper, so bwrap's init (which outlives bwrap by a moment) is reaped
    here too and every process of the run counts."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.waitpid(process.pid, 0)
    wall = time.perf_counter() - started
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    become_subreaper()
    sandbox = Sandbox()
    scratch = Path(tempfile.mkdtemp(prefix="genflow-sandbox-cost-"))
    try:
        project, outputs = scratch / "project", scratch / "outputs"
        project.mkdir()
        outputs.mkdir()
        uid = sandbox.new_uid()
        sandbox.prepare(project, outputs, uid)
        plain = [sys.executable, "-c", "pass"]
        boxed = sandbox.command(project, outputs, plain, {}, uid, SandboxLimits())
        print(f"sandbox cost, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {runs} runs each")
        medians = {}
        for name, command in (("direct", plain), ("in bubblewrap", boxed)):
            samples = [measure(command) for _ in range(runs)]
            cpu = statistics.median(s[0] for s in samples) * 1000
            wall = statistics.median(s[1] for s in samples) * 1000
            medians[name] = (cpu, wall)
            print(f"  python -c pass {name:14} cpu {cpu:6.1f} ms   wall {wall:6.1f} ms")
        cpu = medians["in bubblewrap"][0] - medians["direct"][0]
        wall = medians["in bubblewrap"][1] - medians["direct"][1]
        print(f"  sandbox set-up per run:       cpu {cpu:6.1f} ms   wall {wall:6.1f} ms")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
