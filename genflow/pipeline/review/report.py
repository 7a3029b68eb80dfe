"""Code review that runs the code.

Checks: every Python file compiles; ruff lints it with the project's own configuration
(genflow's rules always selected; genflow's configuration if it ships none); the
project's own tests run with pytest inside the OS sandbox (genflow.pipeline.sandbox;
results read from pytest's JUnit XML report, see genflow.pipeline.review.testrun) with only
what the project declares installed (genflow.pipeline.review.declared and .view); its
imports of modules it does not declare are findings; public functions and classes carry
docstrings. The `migrations` check reports how the tests of the project's Alembic
migrations (tests/test_migrations.py, a fastapi-service's) went: passed, failed or none;
they count in the test pass rate like any other test, and the check itself is unscored.
The checks are scored as genflow.pipeline.review.scoring says.

"run" counts every test in the JUnit XML report that was not skipped; a test with a
failure or an error (setup, call or teardown; a module that fails to collect counts as one)
failed, the others passed. A run that timed out or left no report counts 0 passed, and its
report says why ("error"). When running generated code is switched off, the test term is
not measured and the score is the other terms rescaled to 100; the report lists what was
not measured; so is it when the sandbox cannot start ("tests not run: sandbox
unavailable: ..."): generated code never runs outside it unless the unsafe setting says so.

CPU: the children of a review (ruff, then pytest; one after the other) run at nice
SANDBOX_NICE (genflow.pipeline.sandbox.limits), below the API, the workflow tasks and the
heartbeats.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genflow.files import FileOut, inside
from genflow.pipeline.review.findings import MAX_FINDINGS, bounded
from genflow.pipeline.review.lint import LINT_FAILED, LINT_LINE_LENGTH, LINT_RULES, run_lint
from genflow.pipeline.review.lint_config import lint_options
from genflow.pipeline.review.scoring import (
    FORMULA,
    LINT_ZERO_AT,
    SCORE_CAP,
    WEIGHTS,
    cap_reasons,
    requirements_met,
)
from genflow.pipeline.review.static_checks import static_checks
from genflow.pipeline.review.testrun import run_tests
from genflow.pipeline.sandbox.bubblewrap import Sandbox, SandboxUnavailable
from genflow.pipeline.sandbox.limits import SandboxLimits

DEFAULT_SANDBOX = Sandbox()
# The tests of a project's Alembic migrations (the fastapi-service template's): the
# report's `migrations` check says how they went.
MIGRATION_TESTS = "tests/test_migrations.py"


@dataclass(frozen=True)
class Review:
    score: float
    report: dict[str, Any]


def write_project(files: list[FileOut], root: Path) -> None:
    for file in files:
        target = inside(root, file.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)


async def review(
    files: list[FileOut],
    limits: SandboxLimits,
    *,
    run_tests_enabled: bool = True,
    changes: dict[str, Any] | None = None,
    requirements: dict[str, Any] | None = None,
    sandbox: Sandbox | None = DEFAULT_SANDBOX,
) -> Review:
    """Check and score a project. See genflow.pipeline.review.scoring for the formula. The tests
    run inside `sandbox`; None runs them without it (only the unsafe setting does).
    `changes` (an iteration's) and `requirements` (what of the request went unused:
    `not_understood` sentences, `unused_variables`) are reported as checks, unscored."""
    python_files = [f for f in files if f.path.endswith(".py")]
    # Parsing and writing every file is CPU and disk work: in a thread, so the stage's
    # event loop keeps heartbeating.
    lines, syntax, documented, public, dependencies = await asyncio.to_thread(static_checks, files)
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
    capped = cap_reasons(tests, dependencies)
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
    return Review(score, bounded(report))


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
