"""Review CPU benchmark: where the CPU-seconds of one `review()` go, per builtin template.

For each template (python-library, fastapi-service, cli-tool) the project is generated once
(BuiltinProvider: extract_spec, then generate_files) and reviewed `--runs` times (default 5),
one review after the other, so that resource deltas belong to that review alone. Figures are
CPU-seconds (user + sys), not wall time: the machine is shared.

- pytest: getrusage(RUSAGE_CHILDREN) delta around `run_tests` (the sandboxed pytest process,
  including whatever it started and waited for);
- ruff: the same delta around `run_lint`;
- in-process: getrusage(RUSAGE_SELF) delta around the whole `review()` (syntax check,
  docstrings, writing and removing the files, spawning and reaping the children).

Then the exact pytest command `review()` ran (argv and environment, recorded as it was
spawned) is replayed in a fresh copy of the project to split the pytest process's CPU:

- interpreter: `python <same flags> -c pass`, same environment;
- pytest start-up: the command in a directory holding only pyproject.toml (plugin loading,
  configuration, an empty session), minus the interpreter;
- collection: the command with `--collect-only`, minus start-up (the project's imports,
  assertion rewriting of its test modules);
- tests: the full run minus collection (the tests themselves, teardown, reporting);
- and the full run again with PYTEST_DISABLE_PLUGIN_AUTOLOAD flipped, to show what loading
  every installed package's pytest plugin (entry points) costs.

`--importtime` adds the collection's imports by top-level package (`python -X importtime`,
self time summed per package; wall-clock microseconds of the child, a fair CPU proxy when
run alone).

Run: `.venv/bin/python -m bench.review_cpu [--runs N] [--template T ...] [--importtime]` (as
a module, so that `bench/api.py` does not shadow the `api` package). `--review-module`
measures another copy of the review module (e.g. an older version put on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from inspect import signature
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.procs import become_subreaper
from genflow.files import FileOut
from genflow.pipeline.spec import TEMPLATES
from genflow.providers import SpecRequest
from genflow.providers.builtin import BuiltinProvider
from tests.support import SHOP

PROMPT = SHOP
AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def noop() -> None:
    pass


async def generate(template: str) -> list[FileOut]:
    provider = BuiltinProvider()
    spec, _, _ = await provider.extract_spec(SpecRequest(PROMPT, template, {}, None), noop)
    files, _ = await provider.generate_files(spec, None, noop)
    return files


Spawned = tuple[list[str], dict[str, str] | None, str | None]


@contextmanager
def recording_spawns() -> Iterator[list[Spawned]]:
    """Record argv, env and cwd of every process started through subprocess.Popen
    (asyncio's subprocesses included)."""
    spawned: list[Spawned] = []
    original = subprocess.Popen

    class Recorder(original):  # type: ignore[valid-type,misc]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            cwd = kwargs.get("cwd")
            spawned.append(([str(a) for a in args], kwargs.get("env"), cwd and str(cwd)))
            super().__init__(args, *rest, **kwargs)

    subprocess.Popen = Recorder  # type: ignore[misc]
    try:
        yield spawned
    finally:
        subprocess.Popen = original  # type: ignore[misc]


def reap_orphans() -> None:
    """Reap what the review left to this process (a subreaper): bwrap's init outlives
    bwrap by a moment, and only once reaped does its tree's CPU count as children's."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


async def measured_review(
    module: ModuleType, files: list[FileOut], **options: Any
) -> tuple[dict[str, float], float, list[Spawned]]:
    """One review: CPU-seconds of pytest, ruff and the in-process part; score; spawns."""
    children: dict[str, float] = defaultdict(float)
    originals = {name: getattr(module, name) for name in ("run_tests", "run_lint")}

    def wrap(name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            before = cpu(resource.RUSAGE_CHILDREN)
            try:
                return await function(*args, **kwargs)
            finally:
                reap_orphans()
                children[name] += cpu(resource.RUSAGE_CHILDREN) - before

        return wrapper

    for name, function in originals.items():
        setattr(module, name, wrap(name, function))
    try:
        with recording_spawns() as spawned:
            before = cpu(resource.RUSAGE_SELF)
            limits = module.SandboxLimits(timeout_seconds=120)
            result = await module.review(files, limits, **options)
            in_process = cpu(resource.RUSAGE_SELF) - before
    finally:
        for name, function in originals.items():
            setattr(module, name, function)
    figures = {
        "pytest": children["run_tests"],
        "ruff": children["run_lint"],
        "in-process": in_process,
    }
    figures["total"] = sum(figures.values())
    return figures, result.score, spawned


def child_cpu(argv: list[str], cwd: Path, env: dict[str, str] | None) -> tuple[float, str]:
    before = cpu(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    return cpu(resource.RUSAGE_CHILDREN) - before, done.stderr.decode(errors="replace")


def pytest_split(spawn: Spawned) -> tuple[list[str], list[str]]:
    """(interpreter and its flags, pytest's arguments) of a recorded `python ... -m pytest`."""
    argv = spawn[0]
    for i in range(1, len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "pytest":
            return argv[:i], argv[i + 2 :]
    raise ValueError(f"not a pytest command: {argv}")


def relocate(spawn: Spawned, root: Path) -> tuple[list[str], list[str], dict[str, str] | None]:
    """The recorded pytest command with its project directory replaced by `root`."""
    old = spawn[2] or ""

    def move(value: str) -> str:
        return value.replace(old, str(root)) if old else value

    interpreter, args = pytest_split(spawn)
    env = None if spawn[1] is None else {k: move(v) for k, v in spawn[1].items()}
    return [move(a) for a in interpreter], [move(a) for a in args], env


def fresh_project(module: ModuleType, files: list[FileOut], root: Path) -> None:
    root.mkdir()
    module.write_project(files, root)
    (root / ".tmp").mkdir()


def breakdown(
    module: ModuleType, files: list[FileOut], spawn: Spawned, runs: int
) -> dict[str, float]:
    """Median CPU-seconds of each part of the pytest process, from replays."""
    samples: dict[str, list[float]] = defaultdict(list)
    pyproject = [f for f in files if f.path == "pyproject.toml"]
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="genflow-bench-") as tmp:
            full, empty = Path(tmp) / "project", Path(tmp) / "empty"
            fresh_project(module, files, full)
            fresh_project(module, pyproject, empty)
            interpreter, args, env = relocate(spawn, full)
            flipped = dict(env or os.environ)
            if flipped.pop(AUTOLOAD, None) is None:
                flipped[AUTOLOAD] = "1"
            _, e_args, e_env = relocate(spawn, empty)
            pytest = [*interpreter, "-m", "pytest"]
            samples["interpreter"].append(child_cpu([*interpreter, "-c", "pass"], full, env)[0])
            samples["start-up"].append(child_cpu([*pytest, *e_args], empty, e_env)[0])
            samples["collect"].append(child_cpu([*pytest, *args, "--co"], full, env)[0])
            samples["full"].append(child_cpu([*pytest, *args], full, env)[0])
            key = "autoload off" if AUTOLOAD in flipped else "autoload on"
            samples[key].append(child_cpu([*pytest, *args], full, flipped)[0])
    return {name: statistics.median(values) for name, values in samples.items()}


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)$")


def import_profile(module: ModuleType, files: list[FileOut], spawn: Spawned) -> dict[str, float]:
    """Self import time (s) of the collection's imports, summed per top-level package."""
    with tempfile.TemporaryDirectory(prefix="genflow-bench-") as tmp:
        root = Path(tmp) / "project"
        fresh_project(module, files, root)
        interpreter, args, env = relocate(spawn, root)
        argv = [*interpreter, "-X", "importtime", "-m", "pytest", *args, "--co", "-s"]
        _, stderr = child_cpu(argv, root, env)
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            totals[match.group(3).split(".")[0]] += int(match.group(1)) / 1e6
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--template", action="append", choices=TEMPLATES)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--review-module", default="genflow.pipeline.review.report")
    args = parser.parse_args()
    become_subreaper()
    module = importlib.import_module(args.review_module)
    # The replays below run the pytest command as a review without the OS sandbox
    # spawns it (its figures are the sandbox's own: bench/sandbox_cost.py).
    unsandboxed = {"sandbox": None} if "sandbox" in signature(module.review).parameters else {}
    templates = args.template or list(TEMPLATES)
    print(
        f"review() CPU-seconds per review, median of {args.runs} sequential runs "
        f"({args.review_module}; Python {sys.version.split()[0]}; "
        f"load {os.getloadavg()[0]:.1f})"
    )
    columns = ["pytest", "ruff", "in-process", "total"]
    print(f"{'template':<18}" + "".join(f"{c:>12}" for c in columns) + f"{'score':>8}")
    recorded: dict[str, tuple[list[FileOut], Spawned]] = {}
    for template in templates:
        files = await generate(template)
        rows: list[dict[str, float]] = []
        scores: set[float] = set()
        spawns: list[Spawned] = []
        for _ in range(args.runs):
            figures, score, spawns = await measured_review(module, files)
            rows.append(figures)
            scores.add(score)
        medians = [statistics.median(row[c] for row in rows) for c in columns]
        shown = "/".join(str(s) for s in sorted(scores))
        print(f"{template:<18}" + "".join(f"{m:>12.3f}" for m in medians) + f"{shown:>8}")
        if unsandboxed:
            _, _, spawns = await measured_review(module, files, **unsandboxed)
        pytest_spawn = next(s for s in spawns if "pytest" in s[0])
        recorded[template] = (files, pytest_spawn)
    print()
    print(f"pytest process split, median of {args.runs} replays of the same command")
    parts = ["interpreter", "pytest start-up", "collection", "tests", "full run", "autoload"]
    print(f"{'template':<18}" + "".join(f"{p:>16}" for p in parts))
    for template, (files, spawn) in recorded.items():
        b = breakdown(module, files, spawn, args.runs)
        flipped_on = "autoload on" in b
        flipped = b.get("autoload on", b.get("autoload off", 0.0))
        autoload = f"{'+' if flipped_on else '-'}{abs(flipped - b['full']):.3f}"
        values = [
            f"{b['interpreter']:.3f}",
            f"{b['start-up'] - b['interpreter']:.3f}",
            f"{b['collect'] - b['start-up']:.3f}",
            f"{b['full'] - b['collect']:.3f}",
            f"{b['full']:.3f}",
            autoload,
        ]
        print(f"{template:<18}" + "".join(f"{v:>16}" for v in values))
    print(
        "autoload: the full run's CPU if installed packages' pytest plugins were loaded (+) "
        "or not loaded (-) instead."
    )
    print("command of the last review's pytest run:")
    print("  " + " ".join(recorded[templates[-1]][1][0]))
    if args.importtime:
        for template, (files, spawn) in recorded.items():
            profile = import_profile(module, files, spawn)
            top = ", ".join(f"{name} {s:.3f}" for name, s in list(profile.items())[:10])
            print(f"imports while collecting {template} (s, self time per package): {top}")


if __name__ == "__main__":
    asyncio.run(main())
