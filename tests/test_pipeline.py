"""The builtin stages as pure functions: requirements language, code, review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genflow.files import FileOut
from genflow.pipeline.review.junit import MAX_FAILURES, NODE_ID_LIMIT, read_junit_xml
from genflow.pipeline.review.report import review
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.spec import BadRequirements, parse_requirements
from genflow.pipeline.templates import generate_docs, render_project


def test_sentences_become_entities_with_typed_fields() -> None:
    spec = parse_requirements(
        "A recipe box. Recipe has title (text, required), servings, rating and is_vegan. "
        "Ingredient has name (text, unique) and amount (decimal). Keep it simple."
    )
    assert spec.name == "recipe_box"
    recipe, ingredient = spec.entities
    assert [(f.name, f.type, f.required) for f in recipe.fields] == [
        ("title", "str", True),
        ("servings", "int", False),  # a count: read as an integer since issue 18
        ("rating", "float", False),
        ("is_vegan", "bool", False),
    ]
    assert [(f.name, f.type, f.unique) for f in ingredient.fields] == [
        ("name", "str", True),
        ("amount", "decimal", False),
    ]
    assert spec.notes == ["Keep it simple"]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("Make something.", "no entity found"),
        ("A zoo. Animal has name (blob).", 'sentence 2 ("Animal has name (blob)")'),
        ("Cat has name and name.", "repeated"),
        ("Cat has age (integer). Cat has age (text).", "declared twice"),
    ],
)
def test_unreadable_requirements_name_the_problem(prompt: str, message: str) -> None:
    with pytest.raises(BadRequirements, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_requirements(prompt)


async def test_generated_project_passes_its_own_tests() -> None:
    spec = parse_requirements(
        "Events. Venue has name (text, required, unique), capacity (integer). "
        "Show has starts_at (datetime, required), price (float), opening_on (date) and sold_out."
    )
    result = await review(render_project(spec), SandboxLimits(timeout_seconds=60))
    tests = next(c for c in result.report["checks"] if c["name"] == "tests")
    assert tests["failed"] == 0 and tests["passed"] >= 7
    assert result.score == 100.0
    docs = {f.path: f.content.decode() for f in generate_docs(spec, result.score)}
    assert "| `capacity` | int | no | no |" in docs["docs/API.md"]
    assert "100/100" in docs["README.md"]


async def test_syntax_error_and_failing_test_lower_the_score() -> None:
    spec = parse_requirements("Notes. Note has text (text, required).")
    files = [
        *render_project(spec),
        FileOut("notes/broken.py", "source", b"def broken(:\n"),
        FileOut("tests/test_fails.py", "test", b"def test_fails():\n    assert 1 == 2\n"),
    ]
    result = await review(files, SandboxLimits(timeout_seconds=60))
    checks = {check["name"]: check for check in result.report["checks"]}
    syntax, tests = checks["syntax"], checks["tests"]
    assert [f["path"] for f in syntax["findings"]] == ["notes/broken.py"]
    assert tests["failed"] == 1 and "tests/test_fails.py::test_fails" in tests["failures"]
    assert result.score < 95


async def test_without_running_code_the_score_says_what_was_not_measured() -> None:
    spec = parse_requirements("Notes. Note has text (text, required).")
    files = [*render_project(spec), FileOut("notes/extra.py", "source", b"import os\n")]
    result = await review(files, SandboxLimits(timeout_seconds=60), run_tests_enabled=False)
    checks = {check["name"]: check for check in result.report["checks"]}
    assert checks["tests"] == {
        "name": "tests",
        "measured": False,
        "reason": "running generated code is switched off in settings",
    }
    assert result.report["not_measured"] == ["tests"]
    assert [f["code"] for f in checks["lint"]["findings"]] == ["F401"]
    assert 90 < result.score < 100


def test_a_junit_report_of_many_failures_is_read_bounded(tmp_path: Path) -> None:
    long = "y" * 700
    cases = "".join(
        f'<testcase classname="tests.test_x" name="test_{i}_{long[:400]}" file="tests/test_x.py">'
        f'<failure message="{long}">{long}</failure></testcase>'
        for i in range(8_500)
    )
    report = tmp_path / "report.xml"
    report.write_text(
        f"<testsuites><testsuite>{cases}<testcase name='ok'/></testsuite></testsuites>"
    )
    assert report.stat().st_size > 16_000_000  # 16 MB, under the 16 MiB the reader takes

    outcome = read_junit_xml(report)

    assert (outcome["passed"], outcome["failed"], outcome["failures_total"]) == (1, 8_500, 8_500)
    assert len(outcome["failures"]) == MAX_FAILURES
    assert all(len(node_id) <= NODE_ID_LIMIT for node_id in outcome["failures"])


def test_the_sandboxs_times_file_is_read_bounded(tmp_path: Path) -> None:
    (tmp_path / "times").write_text("0m0.5s 0m0.25s\n0m1.5s 0m0.5s\n" + "9m9s " * 2_000_000)

    assert Sandbox.cpu_seconds(tmp_path) == 2.0
    (tmp_path / "times").unlink()
    (tmp_path / "times").symlink_to("/etc/passwd")
    assert Sandbox.cpu_seconds(tmp_path) == 0.0


async def test_a_file_nested_too_deeply_to_parse_is_a_finding_not_an_error() -> None:
    nested = FileOut("pkg/deep.py", "source", b"x = " + b"(" * 200_000 + b")" * 200_000)
    plain = FileOut("pkg/ok.py", "source", b'"""Fine."""\n')

    result = await review([nested, plain], SandboxLimits(), run_tests_enabled=False)

    syntax = next(c for c in result.report["checks"] if c["name"] == "syntax")
    assert [f["path"] for f in syntax["findings"]] == ["pkg/deep.py"]
    assert syntax["findings_total"] == 1


async def test_a_project_built_to_bloat_its_report_stays_within_the_limit() -> None:
    bad = [
        FileOut(f"pkg/{'d' * 150}_{i}.py", "source", b"def f(:\n" + b"x" * 5000) for i in range(60)
    ]

    result = await review(bad, SandboxLimits(), run_tests_enabled=False)

    assert len(json.dumps(result.report)) <= 32 * 1024
    syntax = next(c for c in result.report["checks"] if c["name"] == "syntax")
    assert syntax["findings_total"] == 60
