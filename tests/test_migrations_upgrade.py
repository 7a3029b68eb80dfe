"""Schemas that evolve (issue 21): a fastapi-service iteration adds the migration that
upgrades its parent's database, rows and all, and the new service serves those rows.

The projects are rendered and iterated the way the pipeline does it (the parent's
files, the new spec's rendered over them, then `with_migrations`); each runs in a
subprocess of its own, so that parent and child, which share a package name, never
meet in one interpreter."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from genflow.files import FileOut
from genflow.pipeline.migrations.plan import migration_files, renames, revisions, with_migrations
from genflow.pipeline.review.junit import read_junit_xml
from genflow.pipeline.review.report import MIGRATION_TESTS, migrations_check
from genflow.pipeline.review.testenv import pytest_command
from genflow.pipeline.spec import ProjectSpec, extend_requirements, parse_requirements
from genflow.pipeline.templates import render_project

CLINIC = (
    "A clinic. Member has name (text, required), email (text, unique) and tier (one of "
    "basic/gold). Visit has member (Member, required), note (text) and fee (decimal)."
)
# Each iteration changes the spec a way the language accepts.
ITERATIONS = [
    "Member also has phone (text). Rename note of Visit to summary.",
    "Add code (text, required, unique) to Member. Rename Member to Client. "
    "Make fee of Visit required.",
]
# Sends requests to the project's app on a database: argv = URL, [[method, path, body]].
CLIENT = """
import json, sys
from fastapi.testclient import TestClient
from {pkg}.db import make_engine
from {pkg}.main import make_app

engine = make_engine(sys.argv[1])
with TestClient(make_app(engine)) as client:
    answers = [
        [r.status_code, r.json() if r.content else None]
        for r in (client.request(m, p, json=b) for m, p, b in json.loads(sys.argv[2]))
    ]
engine.dispose()
print(json.dumps(answers))
"""
# Upgrades a PostgreSQL database to the project's latest migration (on asyncpg, the
# driver genflow has: the migrations run on the sync side of its connection), inserts
# rows if given, and prints every table's rows and how the schema differs from the models'.
POSTGRES = """
import asyncio, json, sys
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from {pkg} import models
from {pkg}.db import migrations_config

def work(connection, inserts):
    command.upgrade(migrations_config(connection), "head")
    for statement in inserts:
        connection.execute(sa.text(statement))
    context = MigrationContext.configure(connection)
    rows = {{"differences": repr(compare_metadata(context, models.Base.metadata))}}
    for name in sa.inspect(connection).get_table_names():
        if name != "alembic_version":
            query = sa.text(f'SELECT * FROM "{{name}}"')
            rows[name] = [dict(row._mapping) for row in connection.execute(query)]
    return rows

async def main():
    engine = create_async_engine(sys.argv[1])
    async with engine.begin() as connection:
        rows = await connection.run_sync(work, json.loads(sys.argv[2]))
    await engine.dispose()
    print(json.dumps(rows, default=str))

asyncio.run(main())
"""


@dataclass(frozen=True)
class Version:
    spec: ProjectSpec
    files: list[FileOut]
    root: Path

    def run(self, code: str, *args: str, timeout: float = 60) -> str:
        """`code` (its `{pkg}` filled in) run with the project importable; its output."""
        done = subprocess.run(
            [sys.executable, "-c", code.format(pkg=self.spec.name), *args],
            cwd=self.root,
            env={**os.environ, "PYTHONPATH": str(self.root)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def requests(self, url: str, *requests: tuple[str, str, Any]) -> list[list[Any]]:
        """The answers of the project's app on the database at `url`."""
        answers: list[list[Any]] = json.loads(self.run(CLIENT, url, json.dumps(requests)))
        return answers


def _write(files: list[FileOut], root: Path) -> Path:
    for file in files:
        (root / file.path).parent.mkdir(parents=True, exist_ok=True)
        (root / file.path).write_bytes(file.content)
    return root


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> list[Version]:
    """The first generation and its two iterations, each written to a directory."""
    spec = parse_requirements(CLINIC, template="fastapi-service")
    files = render_project(spec)
    chain = [Version(spec, files, _write(files, tmp_path_factory.mktemp("v1")))]
    for number, prompt in enumerate(ITERATIONS, start=2):
        parent = chain[-1]
        child, changes = extend_requirements(parent.spec, prompt)
        files = with_migrations(parent.spec, child, changes, parent.files, render_project(child))
        chain.append(Version(child, files, _write(files, tmp_path_factory.mktemp(f"v{number}"))))
    return chain


def test_each_iteration_keeps_the_migrations_and_adds_the_next(versions: list[Version]) -> None:
    numbered = [revisions(v.spec, (f.path for f in v.files)) for v in versions]
    assert [sorted(found) for found in numbered] == [[1], [1, 2], [1, 2, 3]]
    assert numbered[1][2].endswith("/0002_added_field_member_phone.py")
    for earlier, later in itertools.pairwise(versions):
        kept = {f.path: f.content for f in earlier.files if "/versions/" in f.path}
        assert kept.items() <= {f.path: f.content for f in later.files}.items()
    third = next(f for f in versions[2].files if f.path == numbered[2][3]).content.decode()
    assert 'down_revision = "0002"' in third
    assert 'op.rename_table("members", "clients")' in third


def test_an_iteration_upgrades_the_parents_database_and_serves_its_rows(
    versions: list[Version], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    first, second, third = versions
    member = {"name": "Ann", "email": "ann@example.com", "tier": "gold"}
    created = first.requests(
        url,
        ("POST", "/members", member),
        ("POST", "/visits", {"member": 1, "note": "checkup", "fee": "12.50"}),
    )
    assert [status for status, _ in created] == [201, 201], created

    # The child's startup runs the upgrade: the renamed field keeps its value, the new one
    # is null.
    (members, visits) = second.requests(url, ("GET", "/members", None), ("GET", "/visits", None))
    assert members == [200, [{"id": 1, **member, "phone": None}]]
    assert visits == [200, [{"id": 1, "member": 1, "summary": "checkup", "fee": "12.50"}]]

    # The third version (three migrations in a chain): a renamed table keeps its rows, a new
    # required unique column gets a value per old row that the API reads back.
    (clients, visits) = third.requests(url, ("GET", "/clients", None), ("GET", "/visits", None))
    assert clients == [200, [{"id": 1, **member, "phone": None, "code": "unknown-1"}]]
    assert visits == [200, [{"id": 1, "member": 1, "summary": "checkup", "fee": "12.50"}]]
    added = third.requests(url, ("POST", "/clients", {**member, "email": "b@example.com"}))
    assert added[0][0] == 422  # code is required now


def test_the_iterated_projects_migration_tests_pass(versions: list[Version]) -> None:
    # Its other tests are the review's to run (tests/test_engine.py's iterations).
    root = versions[-1].root
    report = root / "junit.xml"
    done = subprocess.run(
        [*pytest_command(root, report), "-p", "no:cacheprovider", MIGRATION_TESTS],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    outcome = read_junit_xml(report, (MIGRATION_TESTS,))
    # the schema, the downgrade, and the upgrade from each of the two earlier migrations
    assert outcome["watched"] == {MIGRATION_TESTS: {"passed": 4, "failed": 0}}
    assert migrations_check(outcome["watched"][MIGRATION_TESTS])["status"] == "passed"


def test_the_migrations_upgrade_postgresql(
    versions: list[Version], empty_postgres_url: str
) -> None:
    first, _, third = versions
    inserts = [
        "INSERT INTO members (name, email, tier) VALUES ('Ann', 'ann@example.com', 'gold')",
        "INSERT INTO visits (member, note, fee) VALUES (1, 'checkup', 12.5)",
    ]
    first.run(POSTGRES, empty_postgres_url, json.dumps(inserts))
    rows = json.loads(third.run(POSTGRES, empty_postgres_url, "[]"))
    assert rows["differences"] == "[]"  # the schema is the models'

    assert rows["clients"] == [
        {"id": 1, "name": "Ann", "email": "ann@example.com", "tier": "gold", "phone": None}
        | {"code": "unknown-1"}
    ]
    assert rows["visits"] == [{"id": 1, "member": 1, "summary": "checkup", "fee": "12.50"}]


def test_a_parent_from_before_migrations_gets_its_own_first_then_the_change() -> None:
    parent = parse_requirements(CLINIC, template="fastapi-service")
    child, changes = extend_requirements(parent, ITERATIONS[0])
    added = migration_files(parent, child, changes, ["clinic/models.py"])
    assert [f.path.rsplit("/", 1)[1] for f in added] == [
        "0001_create_tables.py",
        "0002_added_field_member_phone.py",
    ]
    assert added[0].content == render_project(parent)[-1].content  # the parent's own 0001


# The tables the parent made at start-up before it had migrations (create_all): its
# constraints have no names.
LEGACY_TABLES = """
CREATE TABLE members (id INTEGER NOT NULL, name VARCHAR NOT NULL, email VARCHAR,
    tier VARCHAR(5), PRIMARY KEY (id), UNIQUE (email));
CREATE TABLE visits (id INTEGER NOT NULL, member INTEGER NOT NULL, note VARCHAR,
    fee NUMERIC(30, 2), PRIMARY KEY (id), FOREIGN KEY(member) REFERENCES members (id));
INSERT INTO members (name, email, tier) VALUES ('Ann', 'ann@example.com', 'gold');
INSERT INTO visits (member, note, fee) VALUES (1, 'checkup', 12.5);
"""


def test_a_database_from_before_migrations_is_upgraded(tmp_path: Path) -> None:
    parent = parse_requirements(CLINIC, template="fastapi-service")
    before = [f for f in render_project(parent) if "migration" not in f.path]
    before = [f for f in before if f.path != "alembic.ini"]
    prompt = f"{ITERATIONS[0]} Make email of Member not unique."
    child, changes = extend_requirements(parent, prompt)
    files = with_migrations(parent, child, changes, before, render_project(child))
    version = Version(child, files, _write(files, tmp_path / "project"))
    connection = sqlite3.connect(tmp_path / "clinic.db")
    connection.executescript(LEGACY_TABLES)
    connection.close()
    url = f"sqlite:///{tmp_path / 'clinic.db'}"

    members, visits, taken = version.requests(
        url,
        ("GET", "/members", None),
        ("GET", "/visits", None),
        ("POST", "/members", {"name": "Bo", "email": "ann@example.com"}),
    )
    member = {"name": "Ann", "email": "ann@example.com", "tier": "gold", "phone": None}
    assert members == [200, [{"id": 1, **member}]]
    assert visits == [200, [{"id": 1, "member": 1, "summary": "checkup", "fee": "12.50"}]]
    assert taken[0] == 201  # the unnamed unique constraint is gone


def test_an_iteration_that_changes_no_table_adds_no_migration() -> None:
    parent = parse_requirements(CLINIC, template="fastapi-service")
    child, changes = extend_requirements(parent, "Make fee of Visit at least 0.")
    files = render_project(parent)
    assert migration_files(parent, child, changes, [f.path for f in files]) == []


def test_renames_follow_the_changes_in_their_order() -> None:
    parent = parse_requirements(CLINIC, template="fastapi-service")
    changes = [
        "renamed entity Visit to Appointment",
        "renamed field Appointment.note to summary",
        "renamed field Member.name to full_name",
        "added field Member.phone",
    ]
    entities, fields = renames(parent, changes)
    assert entities == {"Visit": "Appointment"}
    assert fields == {("Visit", "note"): "summary", ("Member", "name"): "full_name"}


def test_the_migrations_check_reads_the_migration_tests() -> None:
    assert migrations_check(None)["status"] == "none"
    assert migrations_check({"passed": 2, "failed": 1})["status"] == "failed"
    assert migrations_check({"passed": 2, "failed": 0}) == {
        "name": "migrations",
        "file": MIGRATION_TESTS,
        "status": "passed",
        "passed": 2,
        "failed": 0,
    }
