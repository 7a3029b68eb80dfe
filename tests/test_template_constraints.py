"""Constraints become code in every project template: bounds (both, only one, negative,
huge, fractional for an integer, a single value), required, unique and choices are
enforced by the generated code and checked by its generated tests; the request's own
words for a field (label) and its unit (description) reach the code and the docs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from genflow.files import FileOut
from genflow.pipeline.review.report import review
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.spec import TEMPLATES, EntitySpec, FieldSpec, FieldType, ProjectSpec
from genflow.pipeline.templates import generate_docs, render_project
from genflow.pipeline.templates.bounds import Bounds

TEAM = EntitySpec(
    name="Team",
    fields=[
        FieldSpec(name="name", required=True, unique=True),
        FieldSpec(name="size", type="int", unique=True, minimum=1),  # only a minimum
        FieldSpec(name="budget", type="decimal", unique=True, maximum=-1),  # only, negative
        FieldSpec(name="founded", type="int", maximum=2024.0),  # only a maximum
    ],
)
PLAYER = EntitySpec(
    name="Player",
    fields=[
        FieldSpec(name="name", required=True),
        FieldSpec(name="rating", type="int", required=True, minimum=1, maximum=5),
        FieldSpec(name="rank", type="int", unique=True, minimum=1, maximum=1000),
        FieldSpec(name="temperature", type="float", minimum=-40, maximum=60.5),
        FieldSpec(name="fee", type="decimal", required=True, minimum=0.5, maximum=99.99),
        FieldSpec(name="savings", type="decimal", unique=True, minimum=1e12),  # huge
        FieldSpec(name="views", type="int", unique=True, minimum=0, maximum=1e12),  # huge
        FieldSpec(name="shirt", type="int", unique=True, minimum=2.5, maximum=99.9),  # 3..99
        FieldSpec(name="fixed", type="int", minimum=3, maximum=3),  # a single value
        FieldSpec(name="ratio", type="float", minimum=0, maximum=1),
        FieldSpec(name="distance", type="float", unique=True, minimum=-1e12, maximum=1e12),
        FieldSpec(name="loss", type="float", unique=True, maximum=-0.5),
        FieldSpec(name="level", type="enum", required=True, choices=["a", "b", "c", "d"]),
        FieldSpec(name="class_", label="class"),
        FieldSpec(name="from_", label="from"),
        FieldSpec(name="order_", type="int", label="order", minimum=0),
        FieldSpec(name="type_", label="type", required=True, unique=True),
        FieldSpec(name="duration", type="float", description="in minutes", minimum=0),
        FieldSpec(
            name="team", type="ref", ref="Team", required=True, label="the team they play for"
        ),
    ],
)


def constrained_spec(template: str) -> ProjectSpec:
    return ProjectSpec(
        name="league",
        description="A league of players in teams",
        template=template,
        entities=[TEAM, PLAYER],
    )


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    check: dict[str, Any] = next(c for c in report["checks"] if c["name"] == name)
    return check


def _text(files: list[FileOut], path: str) -> str:
    return next(f for f in files if f.path == path).content.decode()


_TEST_FILE = {
    "python-library": "tests/test_league.py",
    "fastapi-service": "tests/test_api.py",
    "cli-tool": "tests/test_cli.py",
}


@pytest.mark.parametrize("template", TEMPLATES)
async def test_constraints_are_enforced_and_tested(template: str) -> None:
    files = render_project(constrained_spec(template))
    tests_source = _text(files, _TEST_FILE[template])
    for entity in ("team", "player"):
        assert f"def test_{entity}_refuses_values_out_of_bounds(" in tests_source
        assert f"def test_{entity}_takes_its_bounds(" in tests_source
        assert f"def test_{entity}_unique(" in tests_source
    assert "def test_player_requires(" in tests_source
    result = await review(files, SandboxLimits(timeout_seconds=120))
    tests = _check(result.report, "tests")
    assert tests["failed"] == 0, tests["output_tail"]
    # Each bound is one value refused and one taken: 3 bounds of Team's and 22 of Player's,
    # on top of at least 30 other tests of the two entities.
    assert tests["passed"] >= 2 * (3 + 22) + 30, tests["output_tail"]
    assert _check(result.report, "syntax")["findings"] == []
    assert _check(result.report, "lint")["findings"] == []
    docs = _check(result.report, "docstrings")
    assert docs["documented"] == docs["public"]
    assert result.score == 100.0


def _unpack(files: list[FileOut], root: Path) -> None:
    for file in files:
        (root / file.path).parent.mkdir(parents=True, exist_ok=True)
        (root / file.path).write_bytes(file.content)


def _python(root: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_library_refuses_a_rating_above_its_maximum(tmp_path: Path) -> None:
    _unpack(render_project(constrained_spec("python-library")), tmp_path)
    code = """
from decimal import Decimal
from league.models import Player
values = dict(name="x", fee=Decimal("1"), level="a", type_="t", team=1)
for rating, shirt in ((6, 3), (0, 3), (5, 2), (1, 100)):
    try:
        Player(**values, rating=rating, shirt=shirt)
    except ValueError as err:
        print(err)
Player(**values, rating=5, shirt=99)
Player(**values, rating=1, shirt=3)
"""
    result = _python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "rating must be at most 5, not 6",
        "rating must be at least 1, not 0",
        "shirt must be at least 3, not 2",
        "shirt must be at most 99, not 100",
    ]


def test_the_service_answers_422_below_the_minimum(tmp_path: Path) -> None:
    _unpack(render_project(constrained_spec("fastapi-service")), tmp_path)
    code = """
from fastapi.testclient import TestClient
from league.db import make_engine
from league.main import make_app
with TestClient(make_app(make_engine("sqlite://"))) as client:
    team = client.post("/teams", json={"name": "t"}).json()
    player = {"name": "x", "fee": "1", "level": "a", "type_": "t", "team": team["id"]}
    for rating in (0, 6, 1, 5):
        print(client.post("/players", json={**player, "rating": rating}).status_code)
        player["type_"] += "t"
    print(client.post("/players", json={**player, "rating": 3, "fee": "0.49"}).status_code)
"""
    result = _python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["422", "422", "201", "201", "422"]


def test_the_cli_refuses_a_value_out_of_bounds_as_a_usage_error(tmp_path: Path) -> None:
    _unpack(render_project(constrained_spec("cli-tool")), tmp_path)
    db = tmp_path / "league.json"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "league", "--db", str(db), *args]
        env = {**os.environ, "PYTHONPATH": str(tmp_path)}
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)

    assert run("team-add", "--name", "t").returncode == 0, db.read_text()
    player = ["player-add", "--name", "x", "--fee", "1", "--level", "a", "--team", "1"]
    refused = run(*player, "--type", "t1", "--rating", "6")
    assert refused.returncode == 2
    assert "above the maximum 5" in refused.stderr
    assert run(*player, "--type", "t2", "--rating", "5").returncode == 0
    help_text = run("player-add", "--help").stdout
    assert "1 to 5" in help_text and "in minutes" in help_text


def test_label_and_description_reach_code_and_docs() -> None:
    library = render_project(constrained_spec("python-library"))
    models = _text(library, "league/models.py")
    assert '    # "class"\n    class_: str | None = None' in models
    assert "    # in minutes\n    duration: float | None = None" in models
    schemas = _text(render_project(constrained_spec("fastapi-service")), "league/schemas.py")
    assert "rating: int = Field(ge=1, le=5)" in schemas
    # Decimals also fit their NUMERIC(30, 2) column, text is trimmed and NUL-free, ids fit
    # the id column (issue 21).
    assert (
        'fee: Decimal = Field(ge=Decimal("0.5"), le=Decimal("99.99"), max_digits=30, '
        "decimal_places=2)"
    ) in schemas
    assert 'class_: Text | None = Field(default=None, description="class")' in schemas
    assert 'description="in minutes"' in schemas
    assert 'team: Id = Field(description="the team they play for")' in schemas
    assert "views: int | None = Field(default=None, ge=0, le=1000000000000)" in schemas
    models = _text(render_project(constrained_spec("fastapi-service")), "league/models.py")
    assert "views: Mapped[int | None] = mapped_column(BigInteger, unique=True)" in models
    api = _text(generate_docs(constrained_spec("cli-tool"), None), "docs/API.md")
    assert "| `duration` | float | no | no |  |  | at least 0 | in minutes |" in api
    assert '| `order_` | int | no | no |  |  | at least 0 | "order" |' in api
    assert '| `team` | ref | yes | no |  | `Team` |  | "the team they play for" |' in api
    assert "| `shirt` | int | no | yes |  |  | 3 to 99 |  |" in api


def test_a_long_description_keeps_lines_short() -> None:
    words = "the number of minutes the player spent on the pitch " * 4
    spec = constrained_spec("fastapi-service")
    spec.entities = [
        EntitySpec(
            name="Game",
            fields=[FieldSpec(name="minutes", type="int", maximum=90, description=words)],
        )
    ]
    for template in TEMPLATES:
        spec.template = template
        for file in render_project(spec):
            source = file.content.decode()
            assert max(map(len, source.splitlines()), default=0) <= 100, file.path
            if file.path.endswith(".py"):
                compile(source, file.path, "exec")
    spec.template = "fastapi-service"
    schemas = _text(render_project(spec), "league/schemas.py")
    assert "description=(\n" in schemas and words.strip().split()[-1] in schemas


_BOUNDS = [
    ("int", 1, 5),
    ("int", 2.5, 7.9),
    ("int", -7.5, -1.5),
    ("int", 3, 3),
    ("int", 0, 1e12),
    ("int", 0, None),
    ("int", None, -3),
    ("int", -1e12, None),
    ("float", -40, 60.5),
    ("float", 0, 1),
    ("float", 1e12, None),
    ("float", None, -0.5),
    ("float", 2.5, 2.5),
    ("decimal", 0.5, 99.99),
    ("decimal", -10, -9.99),
    ("decimal", 1e12, None),
    ("decimal", None, -1),
    ("decimal", 0.125, 0.129),
    ("decimal", 7, 7),
]


@pytest.mark.parametrize(("kind", "low", "high"), _BOUNDS)
def test_samples_stay_inside_and_distinct(
    kind: FieldType, low: float | None, high: float | None
) -> None:
    bounds = Bounds.of(FieldSpec(name="x", type=kind, minimum=low, maximum=high))
    assert bounds is not None
    exact = Decimal if kind == "decimal" else float  # a decimal bound is its text: 0.1 is 0.1
    least = -math.inf if low is None else exact(repr(low))
    most = math.inf if high is None else exact(repr(high))

    def value(expression: str, n: int = 0) -> Any:
        return eval(expression, {"Decimal": Decimal, "n": n})

    samples = [value(bounds.sample("py"), n) for n in (1, 2, 3)]
    assert all(least <= sample <= most for sample in samples), samples
    if kind == "int":
        assert all(type(sample) is int for sample in samples)
        span = math.inf if low is None or high is None else math.floor(most) - math.ceil(least) + 1
        assert len(set(samples)) == min(3, span)
    elif kind == "decimal":
        assert all(type(sample) is Decimal for sample in samples)
        if (low, high) != (0.125, 0.129):  # no whole cent inside: the minimum itself
            assert all(sample == sample.quantize(Decimal("0.01")) for sample in samples)
    else:
        assert all(type(sample) is float for sample in samples)
    if kind != "int" and (high is None or low is None or high - low >= 0.03):
        assert len(set(samples)) == 3, samples
    for n, sample in enumerate(samples, start=1):
        json_value = value(bounds.sample("json"), n)
        assert (Decimal(json_value) if kind == "decimal" else json_value) == sample
        assert value(bounds.sample("text"), n) == str(json_value)
    outside = [value(v) for v in bounds.outside("py")]
    edges = [value(v) for v in bounds.edges("py")]
    assert [v < least or v > most for v in outside] == [True] * len(outside)
    assert all(least <= v <= most for v in edges)
    assert len(outside) == len(edges) == (low is not None) + (high is not None)
    for form in ("json", "text"):
        assert [str(value(v)) for v in bounds.outside(form)] == [str(v) for v in outside]


def test_bound_literals_follow_the_field_type() -> None:
    def literals(kind: FieldType, low: float | None, high: float | None) -> tuple[str, str]:
        bounds = Bounds.of(FieldSpec(name="x", type=kind, minimum=low, maximum=high))
        assert bounds is not None
        return bounds.low_literal, bounds.high_literal

    assert literals("int", 1.0, 5.0) == ("1", "5")
    assert literals("int", 1.5, -0.5) == ("2", "-1")
    assert literals("int", None, 1e12) == ("None", "1000000000000")
    assert literals("float", 1, None) == ("1.0", "None")
    assert literals("decimal", 0.1, 1e12) == ('Decimal("0.1")', 'Decimal("1000000000000")')
    assert Bounds.of(FieldSpec(name="x", type="str", minimum=1)) is None
    assert Bounds.of(FieldSpec(name="x", type="int")) is None
