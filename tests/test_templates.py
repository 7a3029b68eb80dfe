"""The Jinja2 project templates: every template, rendered from several specs, gives a
project whose own tests pass in the sandbox seeing only what its pyproject.toml declares
(issue 21; tests/test_declared_environment.py), with no lint or syntax findings, scoring
100."""

from __future__ import annotations

from typing import Any

import pytest

from genflow.pipeline.review.report import review
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.spec import TEMPLATES, parse_requirements
from genflow.pipeline.templates import generate_docs, render_project

LIBRARY = (
    "A library service. Book has title (text, required), author (text), year (integer), "
    "price (decimal), published_on (date), added_at (datetime) and isbn (text, unique). "
    "Member has name (text, required), email (text, unique) and tier (one of basic/gold). "
    "A loan links a member to a book with a due date and returned (boolean)."
)
# Awkward names: keywords and names taken by SQLAlchemy, pydantic or Python (`for`, `json`,
# `metadata`, `self`, `date`, `list`, `model_name`), an entity called Session, required and
# unique fields of every type, a unique choice and a unique reference.
SHOP = (
    "A shop with awkward names. Category has name (text, required, unique), json (text), "
    "metadata (text) and list (integer). "
    "Product has title (text, required), sku (text, required, unique), "
    "price (decimal, required, unique), weight (float, required), stock (integer, unique), "
    "released_on (date, required, unique), created_at (datetime, required, unique), "
    "category (Category, required), is_active (boolean, required), "
    "size (one of small/medium/large, required) and for (text). "
    "Coupon has code (one of alpha/beta/gamma, required, unique), product (Product, unique), "
    "self (text), model_name (text) and date (date). "
    "Session has token (text, required, unique), coupon (Coupon) and rating (float, unique). "
    "Prices are in euros."
)
# A self reference, optional references and a link entity with required fields.
TEAM = (
    "A staffing tool. Employee has full_name (text, required), manager (Employee), "
    "level (one of junior/senior/principal) and hired_at (datetime). "
    "Project has code (text, required, unique), budget (decimal), lead (Employee) "
    "and starts_on (date, required). "
    "An assignment links an employee to a project with hours (float, required), "
    "started_on (date) and billable (boolean, required)."
)
PROMPTS = {"library": LIBRARY, "shop": SHOP, "team": TEAM}
# What each template's project needs, and what it must not get from genflow's environment.
NEEDED = {
    "cli-tool": {"typer", "pytest"},
    "fastapi-service": {"fastapi", "sqlalchemy", "httpx2", "pytest"},
    "python-library": {"pytest"},
}


def in_view(tests: dict[str, Any]) -> set[str]:
    return {entry.split()[0] for entry in tests["environment"]["distributions"]}


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    check: dict[str, Any] = next(c for c in report["checks"] if c["name"] == name)
    return check


@pytest.mark.parametrize("prompt", sorted(PROMPTS))
@pytest.mark.parametrize("template", TEMPLATES)
async def test_generated_project_scores_100(template: str, prompt: str) -> None:
    spec = parse_requirements(PROMPTS[prompt], template=template)
    files = render_project(spec)
    assert len({f.path for f in files}) == len(files)
    assert all(f.kind in ("source", "test") for f in files)
    assert any(f.path == "pyproject.toml" for f in files)
    result = await review(files, SandboxLimits(timeout_seconds=120), sandbox=Sandbox())
    tests = _check(result.report, "tests")
    assert tests["failed"] == 0, tests["output_tail"]
    assert tests["passed"] >= 5 * len(spec.entities), tests["output_tail"]
    assert tests["sandbox"]["isolation"] == "bubblewrap"
    assert tests["limits_hit"] == [], tests
    view = in_view(tests)
    assert NEEDED[template] <= view, view
    # genflow's own packages are not there: not its web stack for the CLI, nor its
    # workflow engine, database driver or model client for any project.
    assert not {"temporalio", "asyncpg", "openai", "genflow"} & view, view
    if template != "fastapi-service":
        assert "click" not in view and "fastapi" not in view, view
    dependencies = _check(result.report, "dependencies")
    assert dependencies["declared_in"] == "pyproject.toml"
    assert dependencies["findings"] == [] and dependencies["not_installed"] == []
    assert "capped" not in result.report
    assert _check(result.report, "syntax")["findings"] == []
    assert _check(result.report, "lint")["findings"] == []
    docs = _check(result.report, "docstrings")
    assert docs["documented"] == docs["public"]
    migrations = "passed" if template == "fastapi-service" else "none"
    assert _check(result.report, "migrations")["status"] == migrations
    assert result.score == 100.0


def test_each_template_has_its_own_layout() -> None:
    paths = {
        template: {f.path for f in render_project(parse_requirements(LIBRARY, template=template))}
        for template in TEMPLATES
    }
    pkg = "library_service"
    assert {
        f"{pkg}/models.py",
        f"{pkg}/store.py",
        f"{pkg}/py.typed",
        f"tests/test_{pkg}.py",
    } <= paths["python-library"]
    assert {
        f"{pkg}/db.py",
        f"{pkg}/models.py",
        f"{pkg}/schemas.py",
        f"{pkg}/main.py",
        f"{pkg}/migrations/env.py",
        f"{pkg}/migrations/versions/0001_create_tables.py",
        "alembic.ini",
        "tests/test_api.py",
        "tests/test_migrations.py",
    } <= paths["fastapi-service"]
    assert {f"{pkg}/storage.py", f"{pkg}/cli.py", "tests/test_cli.py"} <= paths["cli-tool"]


def test_unknown_template_is_refused() -> None:
    spec = parse_requirements(LIBRARY)
    spec.template = "cobol-mainframe"
    with pytest.raises(ValueError, match="cobol-mainframe"):
        render_project(spec)


@pytest.mark.parametrize("prompt", sorted(PROMPTS))
@pytest.mark.parametrize("template", TEMPLATES)
def test_docs_cover_every_entity(template: str, prompt: str) -> None:
    spec = parse_requirements(PROMPTS[prompt], template=template)
    docs = {f.path: f.content.decode() for f in generate_docs(spec, 87.4)}
    assert set(docs) == {"README.md", "docs/API.md"}
    readme, api = docs["README.md"], docs["docs/API.md"]
    assert readme.startswith(f"# {spec.name}\n")
    assert "87/100" in readme and "pip install" in readme and "pytest" in readme
    for entity in spec.entities:
        assert entity.name in readme
        assert f"## {entity.name}\n" in api
    assert "| field | type | required | unique | choices | ref | bounds | meaning |" in api
    if template == "fastapi-service":
        assert "| POST |" in api and "| DELETE |" in api
    elif template == "cli-tool":
        assert "-add " in api and "-delete ID" in api
    else:
        assert "Store.add_" in api
    for note in spec.notes:
        assert note in readme


def test_docs_field_tables() -> None:
    spec = parse_requirements(LIBRARY, template="cli-tool")
    api = next(f for f in generate_docs(spec, None) if f.path == "docs/API.md").content.decode()
    assert "| `tier` | enum | no | no | `basic`, `gold` |  |  |  |" in api
    assert "| `member` | ref | yes | no |  | `Member` |  |  |" in api
    assert "| `isbn` | str | no | yes |" in api


def test_docs_show_bounds_and_the_requests_own_words() -> None:
    spec = parse_requirements(
        "Clubs have a name. Players have a rating from 1 to 5, a class, a height in cm, "
        "a fee of at least 0 and the club they signed with."
    )
    api = next(f for f in generate_docs(spec, None) if f.path == "docs/API.md").content.decode()
    assert "| `rating` | int | no | no |  |  | 1 to 5 |  |" in api
    assert '| `class_` | str | no | no |  |  |  | "class" |' in api
    assert "| `height` | float | no | no |  |  |  | in cm |" in api
    assert "| `fee` | float | no | no |  |  | at least 0 |  |" in api
    assert '| `club` | ref | no | no |  | `Club` |  | "club they signed with" |' in api
    readme = next(f for f in generate_docs(spec, None) if f.path == "README.md").content.decode()
    assert "not measured" in readme


@pytest.mark.parametrize("template", TEMPLATES)
def test_generated_tests_treat_a_warning_as_an_error(template: str) -> None:
    spec = parse_requirements("Book has title (text, required).", template=template)
    pyproject = next(f for f in render_project(spec) if f.path == "pyproject.toml")
    assert 'filterwarnings = ["error"]' in pyproject.content.decode()
