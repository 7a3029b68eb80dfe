"""The review runs a project the way its owner will (issue 21): its tests see only what its
pyproject.toml declares (dependencies and the `test` extra, with their requirements) and
pytest; an import of anything else is a finding that caps the score at 50; the project
ships its own ruff configuration, and the review lints with it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genflow.files import FileOut
from genflow.pipeline.review.declared import inspect, read_declaration, resolve
from genflow.pipeline.review.imports import own_modules
from genflow.pipeline.review.lint import run_lint
from genflow.pipeline.review.lint_config import lint_options
from genflow.pipeline.review.report import review, write_project
from genflow.pipeline.review.scoring import SCORE_CAP
from genflow.pipeline.review.view import SITE_PACKAGES, build_view
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.spec import TEMPLATES, parse_requirements
from genflow.pipeline.templates import render_project
from tests.test_templates import LIBRARY, in_view

RUFF = Path(sys.executable).parent / "ruff"
LIMITS = SandboxLimits(timeout_seconds=120)
# A domain that appears in no issue: a beekeeper's log.
APIARY = (
    "An apiary log. Hive has name (text, required, unique), frames (integer), "
    "queen_marked (boolean) and installed_on (date). "
    "Harvest has kilograms (decimal, required), taken_at (datetime) and "
    "honey (one of clover/heather/acacia). "
    "An inspection links a hive to a harvest with a note and calm (boolean)."
)


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["checks"] if c["name"] == name)
    return found


def planted(files: list[FileOut], path: str, line: str) -> list[FileOut]:
    """`files` with `line` put first in the file at `path`."""
    return [
        FileOut(f.path, f.kind, line.encode() + b"\n" + f.content) if f.path == path else f
        for f in files
    ]


def first_test_file(files: list[FileOut]) -> str:
    return next(f.path for f in files if f.kind == "test" and f.path.endswith(".py"))


async def test_a_prompt_of_a_new_domain_scores_100_with_only_what_it_declares() -> None:
    spec = parse_requirements(APIARY, template="cli-tool")
    assert [entity.name for entity in spec.entities][:2] == ["Hive", "Harvest"]
    result = await review(render_project(spec), LIMITS, sandbox=Sandbox())
    tests = check(result.report, "tests")
    assert tests["failed"] == 0 and tests["passed"] >= 10, tests["output_tail"]
    assert "typer" in in_view(tests) and "click" not in in_view(tests)
    assert result.score == 100.0, result.report


@pytest.mark.parametrize(
    ("template", "line", "module"),
    [("cli-tool", "import click", "click"), ("python-library", "import yaml", "yaml")],
)
async def test_an_undeclared_import_is_a_finding_and_caps_the_score(
    template: str, line: str, module: str
) -> None:
    """click and PyYAML are installed in genflow's environment, but neither project
    declares them: the import is named, the tests fail as they would for the owner."""
    files = render_project(parse_requirements(LIBRARY, template=template))
    path = first_test_file(files)
    result = await review(planted(files, path, line), LIMITS, sandbox=Sandbox())
    findings = check(result.report, "dependencies")["findings"]
    assert findings == [{"path": path, "line": 1, "module": module}]
    tests = check(result.report, "tests")
    assert tests["failed"] >= 1 and f"No module named '{module}'" in tests["output_tail"]
    assert result.score <= SCORE_CAP
    assert result.report["capped"]["at"] == SCORE_CAP


async def test_the_unsafe_path_runs_in_the_same_environment() -> None:
    """Without the sandbox (the unsafe setting), the run has the same view."""
    files = render_project(parse_requirements(LIBRARY, template="cli-tool"))
    clean = await review(files, LIMITS, sandbox=None)
    tests = check(clean.report, "tests")
    assert tests["sandbox"]["isolation"] == "none (unsafe setting)"
    assert "typer" in in_view(tests) and "click" not in in_view(tests)
    assert clean.score == 100.0, clean.report
    broken = await review(
        planted(files, first_test_file(files), "import click"), LIMITS, sandbox=None
    )
    assert check(broken.report, "tests")["failed"] >= 1
    assert broken.score <= SCORE_CAP


async def test_a_declared_dependency_genflow_lacks_is_a_finding_not_a_crash() -> None:
    files = render_project(parse_requirements(LIBRARY, template="python-library"))
    pyproject = next(f for f in files if f.path == "pyproject.toml")
    text = pyproject.content.decode().replace(
        "dependencies = []", 'dependencies = ["surely-not-installed-here>=1"]'
    )
    files = [FileOut(f.path, f.kind, text.encode()) if f is pyproject else f for f in files]
    result = await review(files, LIMITS, sandbox=Sandbox())
    dependencies = check(result.report, "dependencies")
    assert dependencies["not_installed"] == ["not installed here: surely-not-installed-here"]
    tests = check(result.report, "tests")
    assert tests["failed"] == 0 and tests["passed"] > 0, tests["output_tail"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_ruff_with_the_projects_own_configuration_passes(template: str, tmp_path: Path) -> None:
    files = render_project(parse_requirements(LIBRARY, template=template))
    write_project(files, tmp_path)
    assert "[tool.ruff.lint]" in (tmp_path / "pyproject.toml").read_text()
    for command, cwd in (
        ([str(RUFF), "check", "--no-cache", str(tmp_path)], None),
        ([str(RUFF), "check", "--no-cache", "."], tmp_path),
    ):
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


async def test_a_project_cannot_switch_genflows_rules_off(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff]\nexclude = ["*.py"]\ninclude = ["none.py"]\n[tool.ruff.lint]\nselect = []\n'
        'ignore = ["E", "F"]\nexclude = ["*.py"]\nper-file-ignores = {"*" = ["ALL"]}\n'
    )
    (tmp_path / ".gitignore").write_text("*.py\n")
    (tmp_path / "mod.py").write_text("import os\nx = 1 ;\n")
    findings = await run_lint(tmp_path, 60)
    assert {f["code"] for f in findings} == {"F401", "E703"}
    options, described = lint_options(tmp_path, "E,F,W,B", 100)
    assert "--isolated" not in options and "pyproject.toml" in described


async def test_a_configuration_ruff_cannot_use_costs_the_whole_lint_term() -> None:
    files = render_project(parse_requirements(LIBRARY, template="python-library"))
    files = [
        FileOut(f.path, f.kind, f.content + b'\n[tool.ruff.format]\nquote-style = "no"\n')
        if f.path == "pyproject.toml"
        else f
        for f in files
    ]
    result = await review(files, LIMITS, run_tests_enabled=False)
    lint = check(result.report, "lint")
    assert [f["code"] for f in lint["findings"]] == ["RUFF"]
    assert result.score <= 85.0


def test_the_scan_knows_optional_own_and_standard_imports() -> None:
    source = b"""
import json
import mypkg.sub
from . import sibling
from helpers import make
try:
    import ujson
except ImportError:
    ujson = None
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import numpy
def late():
    import requests
"""
    files = [
        FileOut("mypkg/__init__.py", "source", b""),
        FileOut("mypkg/sub.py", "source", source),
        FileOut("tests/helpers.py", "test", b""),
        FileOut("tests/test_x.py", "test", b"from helpers import make\nimport yaml\n"),
    ]
    found = inspect(files, {f.path: ast.parse(f.content) for f in files})
    assert [(f["path"], f["module"]) for f in found.undeclared] == [
        ("mypkg/sub.py", "requests"),
        ("tests/test_x.py", "yaml"),
    ]
    assert own_modules(["src/lib/__init__.py", "tests/test_a.py"]) >= {"src", "lib", "test_a"}
    assert found.declaration.source is None  # no pyproject.toml: nothing declared


def test_the_view_has_only_the_declared_closure(tmp_path: Path) -> None:
    """The view's interpreter sees the declared distributions and pytest, and nothing else
    of genflow's environment; it is readable by the run's uid whatever the umask."""
    declaration = read_declaration(render_project(parse_requirements(LIBRARY, template="cli-tool")))
    assert declaration.requirements == ("typer>=0.12", "pytest>=8")
    view = resolve(declaration.requirements, declaration.name)
    umask = os.umask(0o077)
    try:
        build_view(view.distributions, tmp_path / "venv")
    finally:
        os.umask(umask)
    assert (tmp_path / "venv" / "pyvenv.cfg").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "venv" / SITE_PACKAGES).stat().st_mode & 0o777 == 0o755
    probe = (
        "import importlib.metadata as m, importlib.util as u, sys\n"
        "print(sys.prefix)\n"
        "print(sorted({d.metadata['Name'].lower() for d in m.distributions()}))\n"
        "print([n for n in ('typer', 'pytest', 'click', 'yaml', 'fastapi') if u.find_spec(n)])\n"
    )
    done = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    prefix, names, importable = done.stdout.splitlines()
    assert prefix == str(tmp_path / "venv"), done.stderr
    assert "typer" in names and "click" not in names and "genflow" not in names
    assert importable == "['typer', 'pytest']"
