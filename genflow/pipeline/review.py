"""Code review that runs the code.

Checks: every Python file compiles; ruff lints it with the project's own configuration
(genflow's rules always selected; genflow's configuration if it ships none); the
project's own tests run with pytest inside the OS sandbox (genflow.pipeline.sandbox; results
read from pytest's JUnit XML report, see genflow.pipeline.testrun) with only what the
project declares installed (genflow.pipeline.declared, genflow.pipeline.view); its
imports of modules it does not declare are findings; public functions and classes carry
docstrings. The `migrations` check reports how the tests of the project's Alembic
migrations (tests/test_migrations.py, a fastapi-service's) went: passed, failed or none;
they count in the test pass rate like any other test, and the check itself is unscored.

Quality score (0-100), documented here and in the README:

    score = 50 * test_pass_rate                      (passed / run; no tests run: 0)
          + 20 * compiling_files / python_files      (syntax check of every file)
          + 15 * max(0, 1 - lint_per_100_lines / 10) (ruff findings per 100 lines; 0 if
                                                      ruff refuses the project's configuration)
          + 15 * documented / public_definitions     (docstrings)
    then  score *= requirements_met                  (1 - unread / prompt sentences)
    then  score = min(score, 50) if the tests did not all pass or an import is undeclared

A project that cannot pass its own tests from a clean install (`pip install -e
'.[test]'`, then pytest) scores at most SCORE_CAP: its tests run with only what it declares,
so a test that fails, or a module it imports without declaring it (which an owner's
install would not have), caps the score; "capped" in the report says why.

A request whose sentences were not all understood does not score 100: each sentence
in `not_understood` is a requirement not met, so the score is multiplied by the share
of the prompt's sentences that were read (when the provider did not count them:
1 / (1 + unread)). "completed" says the pipeline ran; the score and `not_understood`
say how much of the request the project does.

"run" counts every test in the JUnit XML report that was not skipped; a test with a
failure or an error (setup, call or teardown; a module that fails to collect counts as one)
failed, the others passed. A run that timed out or left no report counts 0 passed, and its
report says why ("error"). When running generated code is switched off, the test term is
not measured and the score is the other terms rescaled to 100; the report lists what was
not measured; so is it when the sandbox cannot start ("tests not run: sandbox
unavailable: ..."): generated code never runs outside it unless the unsafe setting says so.

CPU: the children of a review (ruff, then pytest; one after the other) run at nice
SANDBOX_NICE, below the API, the workflow tasks and the heartbeats.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genflow.files import FileOut, inside
from genflow.pipeline.declared import Dependencies, inspect
from genflow.pipeline.lint_config import lint_options
from genflow.pipeline.sandbox import Sandbox, SandboxLimits, SandboxUnavailable
from genflow.pipeline.testrun import SANDBOX_NICE, lower_priority, pytest_command, run_tests

__all__ = [
    "SANDBOX_NICE",
    "Review",
    "Sandbox",
    "SandboxLimits",
    "pytest_command",
    "review",
    "run_lint",
    "run_tests",
]

DEFAULT_SANDBOX = Sandbox()
WEIGHTS = {"tests": 50, "compiles": 20, "lint": 15, "docs": 15}
LINT_ZERO_AT = 10.0  # findings per 100 lines at which the lint term reaches 0
# ruff's default rules (pycodestyle's E4, E7, E9 and pyflakes) with pycodestyle's
# warnings and bugbear: not the line length (E501), as names come from the request.
LINT_RULES = "E4,E7,E9,F,W,B"
LINT_LINE_LENGTH = 100  # when the project ships no ruff configuration
LINT_FAILED = "RUFF"  # the finding's code when ruff cannot lint with the project's configuration
SCORE_CAP = 50.0  # the most for a project whose tests do not pass from a clean install
# The tests of a project's Alembic migrations (the fastapi-service template's): the
# report's `migrations` check says how they went.
MIGRATION_TESTS = "tests/test_migrations.py"
# Findings the report keeps per check (with their total): a generated project of any size
# must not make its generation's quality report, sent with every GET, large.
MAX_FINDINGS = 20
MESSAGE_LIMIT = 200  # characters of a finding's message or path
# The most the report may take as JSON: past it (a project built to bloat it), the
# findings lists are emptied, their totals kept.
REPORT_LIMIT = 32 * 1024
FORMULA = (
    "50*test_pass_rate + 20*compiling_files/python_files "
    "+ 15*max(0, 1 - lint_findings_per_100_lines/10) + 15*documented/public_definitions"
    ", times requirements_met (1 - unread sentences / prompt sentences)"
    ", at most 50 if a test fails or an import is undeclared"
)


@dataclass(frozen=True)
class Review:
    score: float
    report: dict[str, Any]


def _static_checks(
    files: list[FileOut],
) -> tuple[int, list[dict[str, Any]], int, int, Dependencies]:
    """Lines of Python, syntax findings, documented and public definitions, declared
    dependencies and undeclared imports. Blocking."""
    lines = sum(f.content.count(b"\n") + 1 for f in files if f.path.endswith(".py"))
    parsed = _parse(files)
    documented, public = _docstrings(files, parsed)
    return lines, _syntax_findings(parsed), documented, public, inspect(files, parsed)


def write_project(files: list[FileOut], root: Path) -> None:
    for file in files:
        target = inside(root, file.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)


async def run_lint(
    root: Path, timeout: float, options: list[str] | None = None
) -> list[dict[str, Any]]:
    """ruff on the project with its own configuration plus genflow's rules, which it
    cannot switch off (`options`, by default lint_config.lint_options'), at nice
    SANDBOX_NICE, one thread, no cache written into the project. A configuration ruff
    cannot use is one LINT_FAILED finding."""
    ruff = Path(sys.executable).parent / "ruff"
    if options is None:
        options = (await asyncio.to_thread(lint_options, root, LINT_RULES, LINT_LINE_LENGTH))[0]
    command = [
        str(ruff if ruff.exists() else "ruff"),
        "check",
        "--no-cache",
        *options,
        "--output-format",
        "json",
        "--exit-zero",
        ".",
    ]
    process = await asyncio.create_subprocess_exec(
        *lower_priority(command),
        cwd=root,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "RAYON_NUM_THREADS": "1",
        },
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
    if process.returncode != 0:  # --exit-zero: only an error of ruff's own
        message = "ruff could not lint with the project's configuration"
        return [{"path": "pyproject.toml", "line": 0, "code": LINT_FAILED, "message": message}]
    return await asyncio.to_thread(_lint_findings, output, root)


def _lint_findings(output: bytes, root: Path) -> list[dict[str, Any]]:
    return [
        {
            "path": finding["filename"].removeprefix(str(root) + "/")[:MESSAGE_LIMIT],
            "line": finding["location"]["row"],
            "code": finding["code"],
            "message": finding["message"][:MESSAGE_LIMIT],
        }
        for finding in json.loads(output or b"[]")
    ]


# CPython 3.11 can fail a parse in a threaded program with a spurious "SystemError: AST
# constructor recursion depth mismatch" (python/cpython#106905; seen here once when 12
# reviews ran together): reviews parse one file at a time (milliseconds each), and a
# parse that fails so is tried once more.
_PARSING = threading.Lock()


def _parse_one(file: FileOut) -> ast.Module:
    with _PARSING:
        try:
            return ast.parse(file.content, filename=file.path)
        except SystemError:
            return ast.parse(file.content, filename=file.path)


def _parse(files: list[FileOut]) -> dict[str, ast.Module | SyntaxError]:
    """Each Python file parsed once: its tree, or the syntax error."""
    parsed: dict[str, ast.Module | SyntaxError] = {}
    for file in files:
        if file.path.endswith(".py"):
            try:
                parsed[file.path] = _parse_one(file)
            except SyntaxError as err:
                parsed[file.path] = err
            except (RecursionError, MemoryError, ValueError, SystemError) as err:  # too deep, NUL
                parsed[file.path] = SyntaxError(f"cannot be parsed ({type(err).__name__})")
    return parsed


def _syntax_findings(parsed: dict[str, ast.Module | SyntaxError]) -> list[dict[str, Any]]:
    return [
        {"path": path[:MESSAGE_LIMIT], "line": result.lineno, "message": result.msg[:MESSAGE_LIMIT]}
        for path, result in parsed.items()
        if isinstance(result, SyntaxError)
    ]


def _docstrings(
    files: list[FileOut], parsed: dict[str, ast.Module | SyntaxError]
) -> tuple[int, int]:
    documented = total = 0
    for file in files:
        tree = parsed.get(file.path)
        if not isinstance(tree, ast.Module) or file.kind == "test":
            continue
        for node in _definitions(tree):
            if node.name.startswith("_"):
                continue
            total += 1
            documented += ast.get_docstring(node) is not None
    return documented, total


_DEFINITION = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _definitions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """Every function and class definition, at any depth: what `ast.walk` finds, visiting
    statements only (a definition is a statement; expressions cannot hold one)."""
    found = []
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, _DEFINITION):
            found.append(node)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                stack.extend(children)
    return found


def check_syntax(files: list[FileOut]) -> list[dict[str, Any]]:
    return _syntax_findings(_parse(files))


def docstring_coverage(files: list[FileOut]) -> tuple[int, int]:
    return _docstrings(files, _parse(files))


async def review(
    files: list[FileOut],
    limits: SandboxLimits,
    *,
    run_tests_enabled: bool = True,
    changes: dict[str, Any] | None = None,
    requirements: dict[str, Any] | None = None,
    sandbox: Sandbox | None = DEFAULT_SANDBOX,
) -> Review:
    """Check and score a project. See the module docstring for the formula. The tests
    run inside `sandbox`; None runs them without it (only the unsafe setting does).
    `changes` (an iteration's) and `requirements` (what of the request went unused:
    `not_understood` sentences, `unused_variables`) are reported as checks, unscored."""
    python_files = [f for f in files if f.path.endswith(".py")]
    # Parsing and writing every file is CPU and disk work: in a thread, so the stage's
    # event loop keeps heartbeating.
    lines, syntax, documented, public, dependencies = await asyncio.to_thread(_static_checks, files)
    tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="genflow-sandbox-")
    try:
        root = Path(tmp)
        await asyncio.to_thread(write_project, files, root)
        # One after the other: run together they take no less CPU, only more memory.
        options, configuration = await asyncio.to_thread(
            lint_options, root, LINT_RULES, LINT_LINE_LENGTH
        )
        lint = await run_lint(root, limits.timeout_seconds, options)
        not_run = "running generated code is switched off in settings"
        tests = None
        if run_tests_enabled:
            try:
                if sandbox is not None:
                    await sandbox.ensure_available()
                tests = await run_tests(root, limits, sandbox, dependencies, (MIGRATION_TESTS,))
            except SandboxUnavailable as err:  # fail closed: the code is not run
                not_run = f"tests not run: sandbox unavailable: {err}"
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    per_100 = 100 * len(lint) / lines if lines else 0.0
    lint_failed = any(f["code"] == LINT_FAILED for f in lint)  # a configuration ruff refused
    measured = {
        "compiles": (
            WEIGHTS["compiles"],
            1 - len(syntax) / len(python_files) if python_files else 0.0,
        ),
        "lint": (WEIGHTS["lint"], 0.0 if lint_failed else max(0.0, 1 - per_100 / LINT_ZERO_AT)),
        "docs": (WEIGHTS["docs"], documented / public if public else 1.0),
    }
    checks: list[dict[str, Any]] = [
        {
            "name": "syntax",
            "files": len(python_files),
            "findings": syntax[:MAX_FINDINGS],
            "findings_total": len(syntax),
        },
        {
            "name": "lint",
            "rules": LINT_RULES,
            "configuration": configuration,
            "lines": lines,
            "per_100_lines": round(per_100, 2),
            "findings": lint[:MAX_FINDINGS],
            "findings_total": len(lint),
        },
    ]
    watched = tests.pop("watched", {}) if tests is not None else {}
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
                "reason": not_run,
            }
        )
    checks.append(migrations_check(watched.get(MIGRATION_TESTS)))
    checks.append(dependencies.check(MAX_FINDINGS))
    checks.append({"name": "docstrings", "documented": documented, "public": public})
    if changes is not None:
        checks.append({"name": "changes", **changes})
    met = 1.0
    if requirements is not None:
        met = requirements_met(requirements)
        checks.append({"name": "requirements", **requirements, "met": round(met, 3)})
    total = sum(weight for weight, _ in measured.values())
    score = 100 * sum(weight * value for weight, value in measured.values()) / total
    score = round(score * met, 1)
    capped = _cap_reasons(tests, dependencies)
    if capped:
        score = min(score, SCORE_CAP)
    report = {
        "formula": FORMULA,
        **({"capped": {"at": SCORE_CAP, "because": capped}} if capped else {}),
        "measured": sorted(measured),
        "not_measured": sorted(set(WEIGHTS) - set(measured)),
        "checks": checks,
        "score": score,
    }
    return Review(score, _bounded(report))


def migrations_check(outcome: dict[str, int] | None) -> dict[str, Any]:
    """The `migrations` check: "passed" when every test of MIGRATION_TESTS that ran passed
    (the schema the migrations build is the models', and each migration upgrades a
    database with rows the application then serves), "failed" when one did not, "none"
    when none ran (no such file, or the tests did not run). Unscored: the tests term
    counts them already."""
    passed, failed = (outcome or {}).get("passed", 0), (outcome or {}).get("failed", 0)
    status = "failed" if failed else "passed" if passed else "none"
    return {
        "name": "migrations",
        "file": MIGRATION_TESTS,
        "status": status,
        "passed": passed,
        "failed": failed,
    }


def _cap_reasons(tests: dict[str, Any] | None, dependencies: Dependencies) -> list[str]:
    """Why the project cannot pass its own tests from a clean install, if it cannot."""
    reasons = []
    if dependencies.undeclared:
        reasons.append(f"{len(dependencies.undeclared)} import(s) of undeclared modules")
    if tests is not None and (tests["failed"] or not tests["passed"] or "error" in tests):
        reasons.append("the tests did not all pass with only the declared dependencies")
    return reasons


def requirements_met(requirements: dict[str, Any]) -> float:
    """The share of the request's sentences that were understood."""
    unread = len(requirements.get("not_understood") or [])
    sentences = int(requirements.get("sentences") or 0)
    if not unread:
        return 1.0
    if sentences >= unread:
        return 1 - unread / sentences
    return 1 / (1 + unread)


def _bounded(report: dict[str, Any]) -> dict[str, Any]:
    """The report within REPORT_LIMIT bytes of JSON: lists a generated project controls
    are emptied (their totals stay) until it fits."""
    if len(json.dumps(report)) <= REPORT_LIMIT:
        return report
    for check in report["checks"]:
        for key in ("findings", "failures"):
            if isinstance(check.get(key), list) and check[key]:
                check[key] = []
                check["truncated"] = True
    return report
