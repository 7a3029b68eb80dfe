"""The review's quality score (0-100), documented here and in the README:

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
"""

from __future__ import annotations

from typing import Any

from genflow.pipeline.review.declared import Dependencies

WEIGHTS = {"tests": 50, "compiles": 20, "lint": 15, "docs": 15}
LINT_ZERO_AT = 10.0  # findings per 100 lines at which the lint term reaches 0
SCORE_CAP = 50.0  # the most for a project whose tests do not pass from a clean install
FORMULA = (
    "50*test_pass_rate + 20*compiling_files/python_files "
    "+ 15*max(0, 1 - lint_findings_per_100_lines/10) + 15*documented/public_definitions"
    ", times requirements_met (1 - unread sentences / prompt sentences)"
    ", at most 50 if a test fails or an import is undeclared"
)


def cap_reasons(tests: dict[str, Any] | None, dependencies: Dependencies) -> list[str]:
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
