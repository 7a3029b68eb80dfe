"""Validation that holds in generated projects (issue 21), checked on the rendered
python-library and cli-tool projects of two requests of this module's own.

Required text is not blank once trimmed, emails are checked, unique values are compared
once normalised (trimmed; emails lower-cased), integers fit in 64 bits and text holds no
NUL and no lone surrogate. A refusal is the library's ValueError (a `Duplicate` for a
taken value) or the command line's usage error (exit code 2; 1 for a taken value), never
a traceback, and it leaves the stored records as they were. The generated tests try the
same edges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from genflow.pipeline.spec import parse_requirements
from genflow.pipeline.templates.views import Entity, template_context
from tests.test_generated_state import Cli, render_into, run_python

# Requests of this module's own, in no issue: an email that is required and unique, a
# required unique text and an integer without bounds in each.
CLIMBERS = (
    "A climbing club register. Climber has email (text, required, unique), "
    "handle (text, required, unique), full_name (text, required), grade (integer) "
    "and joined_on (date)."
)
RECIPES = (
    "A recipe box. Recipe has title (text, required, unique), servings (integer, required), "
    "author_email (text, unique), minutes (integer, at least 1) and rating (float)."
)


@dataclass(frozen=True)
class Case:
    prompt: str
    entity: str
    first: dict[str, Any]  # a valid record, its email padded and in capitals
    second: dict[str, Any]  # another one, sharing no unique value with the first
    email: str
    text: str  # a required unique text field
    number: str  # an integer field without bounds

    def attempts(self) -> dict[str, tuple[str, Any]]:
        """The field and value of each change to `second` that must be refused, by what
        the change tries."""
        return {
            "blank required text": (self.text, "   "),
            "email differing in case and space": (self.email, " ANN@example.com"),
            "text differing in space": (self.text, self.first[self.text] + "  "),
            "bad email": (self.email, "ann(at)example.com"),
            "integer past 64 bits": (self.number, 10**30),
            "NUL in text": (self.text, "a\x00b"),
            "lone surrogate in text": (self.text, "a\udcffb"),
        }


DUPLICATES = {"email differing in case and space", "text differing in space"}
CASES = {
    "climbers": Case(
        prompt=CLIMBERS,
        entity="Climber",
        first={"email": "  Ann@Example.COM ", "handle": "ann", "full_name": "Ann", "grade": 7},
        second={"email": "bo@example.com", "handle": "bo", "full_name": "Bo", "grade": 6},
        email="email",
        text="handle",
        number="grade",
    ),
    "recipes": Case(
        prompt=RECIPES,
        entity="Recipe",
        first={"title": "Soup", "servings": 4, "author_email": "  Ann@Example.COM "},
        second={"title": "Stew", "servings": 2, "author_email": "bo@example.com"},
        email="author_email",
        text="title",
        number="servings",
    ),
}


def _entity(case: Case, template: str) -> Entity:
    context = template_context(parse_requirements(case.prompt, template=template))
    return next(e for e in cast("list[Entity]", context["entities"]) if e.cls == case.entity)


def run_project_tests(root: Path) -> subprocess.CompletedProcess[str]:
    """The rendered project's own tests, under its own pytest configuration (a warning
    is an error) and with no plugins of ours."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(
    ("template", "test_file"),
    [("python-library", "tests/test_{pkg}.py"), ("cli-tool", "tests/test_cli.py")],
)
def test_generated_tests_try_the_edges_and_pass(
    template: str, test_file: str, name: str, tmp_path: Path
) -> None:
    case = CASES[name]
    pkg = render_into(case.prompt, template, tmp_path)
    source = (tmp_path / test_file.format(pkg=pkg)).read_text()
    var = _entity(case, template).var
    for test in (
        f"test_{var}_refuses_edge_values",
        f"test_{var}_{case.text}_is_unique_once_normalised",
        f"test_{var}_{case.email}_is_unique_once_normalised",
        f"test_{var}_text_is_trimmed",
    ):
        assert f"def {test}(" in source
    # The edge table: (field, value) rows, or (option, command-line value) rows.
    text, number = (
        (case.text, "10**30")
        if template == "python-library"
        else (_option(case.text), "str(10**30)")
    )
    for row in (f'"{text}", "   ")', f'"{text}", "a\\x00b")', f", {number})", '"not-an-email")'):
        assert row in source
    result = run_project_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]


# Runs in a fresh interpreter with the rendered project on its path: stores the first
# record, tries each change on a new record (the second, not yet stored), then stores the
# second and tries each change on it; prints what each attempt did and whether the
# stored records stayed as they were.
LIBRARY_PROBE = """
import json, sys
from {pkg} import models
from {pkg}.store import Store

case = json.loads(sys.argv[1])
kind = getattr(models, case["entity"])
store = Store()
add, update = getattr(store, "add_{var}"), getattr(store, "update_{var}")
listing = getattr(store, "list_{plural}")


def outcome(attempt):
    before = listing()
    try:
        attempt()
    except ValueError as err:  # what the library documents, StoreErrors included
        seen = type(err).__name__
    except BaseException as err:
        seen = "undocumented " + type(err).__name__
    else:
        seen = "accepted"
    return [seen, listing() == before]


first = add(kind(**case["first"]))
added, updated = {{}}, {{}}
for what, changes in case["attempts"].items():
    added[what] = outcome(lambda: add(kind(**{{**case["second"], **changes}})))
second = add(kind(**case["second"]))
for what, changes in case["attempts"].items():
    updated[what] = outcome(lambda: update(second.id, **changes))
report = {{"stored_email": getattr(first, case["email"]), "added": added, "updated": updated}}
print(json.dumps(report))
"""


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_library_refuses_what_it_cannot_hold(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    pkg = render_into(case.prompt, "python-library", tmp_path)
    entity = _entity(case, "python-library")
    probe = LIBRARY_PROBE.format(pkg=pkg, var=entity.var, plural=entity.plural)
    arguments = {
        "entity": case.entity,
        "first": case.first,
        "second": case.second,
        "email": case.email,
        "attempts": {what: {field: value} for what, (field, value) in case.attempts().items()},
    }
    result = run_python(tmp_path, probe, json.dumps(arguments))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stored_email"] == "ann@example.com"
    # Refused (a taken value as Duplicate, a ValueError too), the records unchanged.
    expected = {
        what: ["Duplicate" if what in DUPLICATES else "ValueError", True]
        for what in case.attempts()
    }
    assert report["added"] == expected
    assert report["updated"] == expected


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _options(values: dict[str, Any]) -> list[str]:
    return [arg for field, value in values.items() for arg in (_option(field), str(value))]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_cli_refuses_what_it_cannot_hold(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    cli = Cli(case.prompt, tmp_path)
    add = f"{_entity(case, 'cli-tool').var.replace('_', '-')}-add"
    added = cli.run([add, *_options(case.first)])
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)[case.email] == "ann@example.com"
    stored = cli.db.read_bytes()

    commands: dict[str, list[str]] = {}
    for what, (field, value) in case.attempts().items():
        if what == "NUL in text":
            continue  # no argv can hold a NUL: tried below, from inside the process
        if what == "lone surrogate in text":
            # Bytes that are not UTF-8, as a shell passes them on (Python decodes them
            # to lone surrogates, and encodes this one back to the same bytes).
            value = os.fsdecode(b"caf\xff")
        commands[what] = cli.command([add, *_options({**case.second, field: value})])
    # Started together, waited for after. Each is an add and none deletes, so a file
    # unchanged at the end is one that no attempt wrote.
    processes = {
        what: subprocess.Popen(
            command,
            cwd=tmp_path,
            env=cli.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
        )
        for what, command in commands.items()
    }
    # The argv of a real `python -m <pkg>` process, a NUL put in by the process itself.
    nul_args = ["--db", str(cli.db), add, *_options({**case.second, case.text: "a\x00b"})]
    launcher = (
        "import json, runpy, sys; sys.argv[1:] = json.loads(sys.argv[1]); "
        f"runpy.run_module({cli.pkg!r}, run_name='__main__', alter_sys=True)"
    )
    try:
        nul = subprocess.run(
            [sys.executable, "-c", launcher, json.dumps(nul_args)],
            cwd=tmp_path,
            env=cli.env,
            capture_output=True,
            encoding="utf-8",
            timeout=60,
        )
        outcomes = {"NUL in text": (nul.returncode, nul.stdout, nul.stderr)}
        for what, process in processes.items():
            out, err = process.communicate(timeout=60)
            outcomes[what] = (process.returncode, out, err)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()

    for what, (field, _) in case.attempts().items():
        code, out, err = outcomes[what]
        assert "Traceback" not in err, (what, err)
        assert out == "", (what, out)
        if what in DUPLICATES:
            assert (code, "already taken" in err) == (1, True), (what, err)
        else:
            refused = (code, "Invalid value" in err, _option(field) in err)
            assert refused == (2, True, True), (what, err)
    assert cli.db.read_bytes() == stored
    assert cli.leftovers() == []


# A request of this module's own whose samples reach one kind of record twice: a signup
# refers to a volunteer, and to a shift that refers to a volunteer too. Before the
# records a sample refers to had numbers of their own, the second volunteer repeated the
# first one's unique email and badge, and the generated tests failed on their own data.
ROTA = (
    "A volunteer rota. Volunteer has email (text, required, unique), badge (integer, "
    "unique) and joined_on (date, required). Shift has label (text, required) and "
    "coordinator (Volunteer, required). Signup has volunteer (Volunteer, required), shift "
    "(Shift, required) and note (text)."
)


@pytest.mark.parametrize("template", ["python-library", "cli-tool", "fastapi-service"])
def test_samples_that_reach_one_record_twice_keep_unique_values_apart(
    template: str, tmp_path: Path
) -> None:
    render_into(ROTA, template, tmp_path)
    result = run_project_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout


def test_the_library_is_typed_for_its_users(tmp_path: Path) -> None:
    # It ships py.typed, and `mypy --strict` finds nothing in it to report.
    pkg = render_into(ROTA, "python-library", tmp_path)
    assert (tmp_path / pkg / "py.typed").is_file()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", pkg],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
