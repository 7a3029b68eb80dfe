"""The sandbox's own cost per run: CPU and wall time of `python -c pass` inside
bubblewrap (namespaces, mounts, setpriv, the waiting shell) beside the same command run
directly, each measured with wait4 on the child, median of N runs.

Run: `.venv/bin/python -m bench.sandbox_cost [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from genflow.pipeline.sandbox import Sandbox, SandboxLimits


def measure(command: list[str]) -> tuple[float, float]:
    """CPU-seconds (the whole tree) and wall seconds of one run of `command`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    sandbox = Sandbox()
    project = Path(tempfile.mkdtemp(prefix="genflow-sandbox-cost-"))
    try:
        uid = sandbox.new_uid()
        sandbox.prepare(project, uid)
        plain = [sys.executable, "-c", "pass"]
        boxed = sandbox.command(project, plain, {}, uid, SandboxLimits())
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
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
