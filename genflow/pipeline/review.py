"""Code review that runs the code.

Checks: every Python file compiles; the project's own tests run with pytest in a
sandboxed subprocess; public functions and classes carry docstrings.

Quality score (0-100), documented here and in the README:

    score = 50 * test_pass_rate                      (passed / run; no tests run: 0)
          + 20 * compiling_files / python_files      (syntax check of every file)
          + 15 * max(0, 1 - lint_per_100_lines / 10) (ruff findings per 100 lines)
          + 15 * documented / public_definitions     (docstrings)

When running generated code is switched off, the test term is not measured and the
score is the other terms rescaled to 100; the report lists what was not measured.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import resource
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from genflow.db.repository import FileOut

WEIGHTS = {"tests": 50, "compiles": 20, "lint": 15, "docs": 15}
LINT_ZERO_AT = 10.0  # findings per 100 lines at which the lint term reaches 0
LINT_RULES = "E,F,W,B"
FORMULA = (
    "50*test_pass_rate + 20*compiling_files/python_files "
    "+ 15*max(0, 1 - lint_findings_per_100_lines/10) + 15*documented/public_definitions"
)


@dataclass(frozen=True)
class SandboxLimits:
    timeout_seconds: float = 60.0
    memory_mb: int = 1024
    cpu_seconds: int = 60


@dataclass(frozen=True)
class Review:
    score: float
    report: dict[str, Any]


def _safe_path(root: Path, relative: str) -> Path:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"unsafe artifact path {relative!r}")
    return root.joinpath(*path.parts)


def _limit(limits: SandboxLimits) -> None:
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))
    os.setsid()


def write_project(files: list[FileOut], root: Path) -> None:
    for file in files:
        target = _safe_path(root, file.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)


async def run_tests(root: Path, limits: SandboxLimits) -> dict[str, Any]:
    """Run the project's tests with pytest in `root`: time-limited, CPU-, memory- and
    process-limited, with a scrubbed environment (no secrets, no DATABASE_URL)."""
    scratch = root / ".tmp"  # the project's own tmp_path and tempfile area
    scratch.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(root),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-o",
        "addopts=",
        "-p",
        "no:asyncio",
        cwd=root,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=lambda: _limit(limits),
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limits.timeout_seconds)
        timed_out = False
    except TimeoutError:
        timed_out = True
        output = b""
    finally:
        # A cancelled or timed-out run must not leave the sandbox behind.
        if process.returncode is None:
            os.killpg(process.pid, 9)
            await process.wait()
    text = output.decode(errors="replace")
    summary = text.strip().splitlines()[-1] if text.strip() else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?)", summary)}
    failures = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)
    return {
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
        "timed_out": timed_out,
        "exit_code": process.returncode,
        "failures": failures,
        "output_tail": text[-2000:],
    }


async def run_lint(root: Path, timeout: float) -> list[dict[str, Any]]:
    """ruff on the project with genflow's own rule set (`--isolated`: a generated
    project cannot switch its own checks off)."""
    ruff = Path(sys.executable).parent / "ruff"
    process = await asyncio.create_subprocess_exec(
        str(ruff if ruff.exists() else "ruff"),
        "check",
        "--isolated",
        "--select",
        LINT_RULES,
        "--line-length",
        "100",
        "--output-format",
        "json",
        "--exit-zero",
        ".",
        cwd=root,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return [
        {
            "path": finding["filename"].removeprefix(str(root) + "/"),
            "line": finding["location"]["row"],
            "code": finding["code"],
            "message": finding["message"],
        }
        for finding in json.loads(output or b"[]")
    ]


def check_syntax(files: list[FileOut]) -> list[dict[str, Any]]:
    findings = []
    for file in files:
        if file.path.endswith(".py"):
            try:
                ast.parse(file.content, filename=file.path)
            except SyntaxError as err:
                findings.append({"path": file.path, "line": err.lineno, "message": err.msg})
    return findings


def docstring_coverage(files: list[FileOut]) -> tuple[int, int]:
    documented = total = 0
    for file in files:
        if not file.path.endswith(".py") or file.kind == "test":
            continue
        try:
            tree = ast.parse(file.content)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name.startswith("_"):
                    continue
                total += 1
                documented += ast.get_docstring(node) is not None
    return documented, total


async def review(
    files: list[FileOut],
    limits: SandboxLimits,
    *,
    run_tests_enabled: bool = True,
    changes: dict[str, Any] | None = None,
) -> Review:
    """Check and score a project. See the module docstring for the formula."""
    python_files = [f for f in files if f.path.endswith(".py")]
    lines = sum(f.content.count(b"\n") + 1 for f in python_files)
    syntax = check_syntax(files)
    with tempfile.TemporaryDirectory(prefix="genflow-sandbox-") as tmp:
        root = Path(tmp)
        write_project(files, root)
        lint = await run_lint(root, limits.timeout_seconds)
        tests = await run_tests(root, limits) if run_tests_enabled else None
    documented, public = docstring_coverage(files)
    per_100 = 100 * len(lint) / lines if lines else 0.0
    measured = {
        "compiles": (
            WEIGHTS["compiles"],
            1 - len(syntax) / len(python_files) if python_files else 0.0,
        ),
        "lint": (WEIGHTS["lint"], max(0.0, 1 - per_100 / LINT_ZERO_AT)),
        "docs": (WEIGHTS["docs"], documented / public if public else 1.0),
    }
    checks: list[dict[str, Any]] = [
        {"name": "syntax", "files": len(python_files), "findings": syntax},
        {
            "name": "lint",
            "rules": LINT_RULES,
            "lines": lines,
            "per_100_lines": round(per_100, 2),
            "findings": lint,
        },
    ]
    if tests is not None:
        ran = tests["passed"] + tests["failed"]
        pass_rate = tests["passed"] / ran if ran else 0.0
        measured["tests"] = (WEIGHTS["tests"], pass_rate)
        checks.append({"name": "tests", **tests, "pass_rate": round(pass_rate, 3)})
    else:
        checks.append(
            {
                "name": "tests",
                "measured": False,
                "reason": "running generated code is switched off in settings",
            }
        )
    checks.append({"name": "docstrings", "documented": documented, "public": public})
    if changes is not None:
        checks.append({"name": "changes", **changes})
    total = sum(weight for weight, _ in measured.values())
    score = round(100 * sum(weight * value for weight, value in measured.values()) / total, 1)
    report = {
        "formula": FORMULA,
        "measured": sorted(measured),
        "not_measured": sorted(set(WEIGHTS) - set(measured)),
        "checks": checks,
        "score": score,
    }
    return Review(score, report)
