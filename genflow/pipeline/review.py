"""Code review that runs the code.

Checks: every Python file compiles; the project's own tests run with pytest in a
sandboxed subprocess; public functions and classes carry docstrings.

Quality score (0-100), documented here and in the README:
    score = 60 * test_pass_rate + 25 * compiling_files / python_files
            + 15 * documented_definitions / public_definitions
A project with no tests gets 0 for the test term.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import resource
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from genflow.db.repository import FileOut


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


async def run_tests(files: list[FileOut], limits: SandboxLimits) -> dict[str, Any]:
    """Write the project into an empty temporary directory and run its tests with
    pytest there: time-limited, CPU- and memory-limited, with a scrubbed environment."""
    with tempfile.TemporaryDirectory(prefix="genflow-sandbox-") as tmp:
        root = Path(tmp)
        for file in files:
            target = _safe_path(root, file.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.content)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": tmp,
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
            cwd=tmp,
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
    counts = {
        kind: int(n)
        for n, kind in re.findall(
            r"(\d+) (passed|failed|errors?|skipped)", text.splitlines()[-1] if text else ""
        )
    }
    failures = re.findall(r"^FAILED (\S+)", text, re.M) + re.findall(r"^ERROR (\S+)", text, re.M)
    return {
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
        "timed_out": timed_out,
        "exit_code": process.returncode,
        "failures": failures,
        "output_tail": text[-2000:],
    }


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


async def review(files: list[FileOut], limits: SandboxLimits) -> Review:
    python_files = [f for f in files if f.path.endswith(".py")]
    syntax = check_syntax(files)
    tests = await run_tests(files, limits)
    documented, public = docstring_coverage(files)
    ran = tests["passed"] + tests["failed"]
    pass_rate = tests["passed"] / ran if ran else 0.0
    compiles = 1 - len(syntax) / len(python_files) if python_files else 0.0
    docs = documented / public if public else 1.0
    score = round(60 * pass_rate + 25 * compiles + 15 * docs, 1)
    report = {
        "formula": "60*test_pass_rate + 25*compiling_files/python_files "
        "+ 15*documented/public_definitions",
        "checks": [
            {"name": "syntax", "files": len(python_files), "findings": syntax},
            {"name": "tests", **tests, "pass_rate": round(pass_rate, 3)},
            {"name": "docstrings", "documented": documented, "public": public},
        ],
        "score": score,
    }
    return Review(score, report)
