"""Alembic migrations of a fastapi-service project, provider-independent.

A first generation gets `{pkg}/migrations/versions/0001_create_tables.py`, creating
every table of its spec. An iteration keeps its parent's migrations and adds the next,
`000N_<slug>.py` revising the one before, with the operations that turn the parent's
tables into the new spec's (see `genflow.pipeline.migrations.diff`); what the change list
says was renamed is renamed, so its data is kept. A parent from before migrations
(its tables made at start-up) first gets its own spec's 0001, then the change as 0002.
An iteration that changes no table adds no migration.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from genflow.files import FileOut, media_type
from genflow.pipeline.migrations.diff import Renames, steps
from genflow.pipeline.migrations.ops import tables_of
from genflow.pipeline.spec import ProjectSpec, snake

TEMPLATE = "fastapi-service"
_REVISION = re.compile(r"(\d{4})_\w+\.py")
_RENAMED_ENTITY = re.compile(r"renamed entity (\w+) to (\w+)")
_RENAMED_FIELD = re.compile(r"renamed field (\w+)\.(\w+) to (\w+)")
# The naming convention of the template's db.py, which the migrations' batches reflect with.
_NAMING = [
    'NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s", '
    '"fk": "fk_%(table_name)s_%(column_0_name)s"}',
]


def versions_dir(spec: ProjectSpec) -> str:
    return f"{spec.name}/migrations/versions"


def environment_path(spec: ProjectSpec) -> str:
    """The migration environment the template renders: a project without it (another
    provider's) gets no migrations."""
    return f"{spec.name}/migrations/env.py"


def revisions(spec: ProjectSpec, paths: Iterable[str]) -> dict[int, str]:
    """The numbered migrations among `paths`, by number."""
    prefix = versions_dir(spec) + "/"
    found = {}
    for path in paths:
        if path.startswith(prefix) and (match := _REVISION.fullmatch(path[len(prefix) :])):
            found[int(match.group(1))] = path
    return found


def renames(parent: ProjectSpec, changes: Iterable[str]) -> tuple[dict[str, str], Renames]:
    """The parent's entities and fields renamed by `changes` (in their order, so a field
    renamed before or after its entity is found), old name to new."""
    entities = {entity.name: entity.name for entity in parent.entities}
    fields = {(e.name, f.name): f.name for e in parent.entities for f in e.fields}
    for change in changes:
        if match := _RENAMED_ENTITY.fullmatch(change):
            for was, now in entities.items():
                if now == match.group(1):
                    entities[was] = match.group(2)
        elif match := _RENAMED_FIELD.fullmatch(change):
            for (owner, was), now in fields.items():
                if entities.get(owner) == match.group(1) and now == match.group(2):
                    fields[owner, was] = match.group(3)
    return (
        {was: now for was, now in entities.items() if was != now},
        {key: now for key, now in fields.items() if key[1] != now},
    )


def _plain(text: str) -> str:
    """`text` as it may stand in a docstring."""
    return text.replace("\\", "/").replace('"""', "'''")


def _docstring(title: str, number: int) -> str:
    lines = textwrap.wrap(_plain(title), width=96) or [""]
    lines[0] = '"""' + lines[0]
    revises = [f"Revises: {number - 1:04d}"] if number > 1 else []
    return "\n".join([*lines, "", f"Revision ID: {number:04d}", *revises, '"""'])


def _function(name: str, doc: str, body: list[str]) -> list[str]:
    doc_lines = textwrap.wrap(_plain(doc), width=88)
    doc_text = "\n    ".join(doc_lines)
    return [f"def {name}() -> None:", f'    """{doc_text}"""', *(body or ["    pass"])]


def _revision_file(
    spec: ProjectSpec, number: int, slug: str, title: str, upgrade: list[str], downgrade: list[str]
) -> FileOut:
    """Migration `number` of `spec`'s project, revising the one before it."""
    code = "\n".join([*upgrade, *downgrade])
    imports = ["import sqlalchemy as sa"] if "sa." in code else []
    down = f'"{number - 1:04d}"' if number > 1 else "None"
    lines = [
        _docstring(title, number),
        "",
        *imports,
        "from alembic import op",
        "",
        f'revision = "{number:04d}"',
        f"down_revision = {down}",
        "branch_labels = None",
        "depends_on = None",
        *(_NAMING if "naming_convention=NAMING" in code else []),
        "",
        "",
        *_function("upgrade", f"{title.rstrip('.')}.", upgrade),
        "",
        "",
        *_function("downgrade", f"Undo revision {number:04d}.", downgrade),
        "",
    ]
    path = f"{versions_dir(spec)}/{number:04d}_{slug}.py"
    return FileOut(path, "source", "\n".join(lines).encode(), media_type(path))


def _first(spec: ProjectSpec) -> FileOut:
    """Migration 0001: every table of `spec`."""
    tables = tables_of(spec)
    title = f"Create the tables of {spec.name}: {', '.join(t.name for t in tables.values())}."
    return _revision_file(
        spec, 1, "create_tables", title, steps({}, tables, {}, {}), steps(tables, {}, {}, {})
    )


def migration_files(
    parent: ProjectSpec | None, spec: ProjectSpec, changes: list[str], existing: Iterable[str]
) -> list[FileOut]:
    """The migrations to add to a fastapi-service project whose files are at `existing`
    (for an iteration: its parent's) to reach `spec` from `parent` (None: a first
    generation); nothing for another template."""
    if spec.template != TEMPLATE:
        return []
    found = revisions(spec, existing)
    if parent is None or parent.template != TEMPLATE:
        return [] if found else [_first(spec)]
    added = [] if found else [_first(parent)]
    number = max(found, default=len(added)) + 1
    entities, fields = renames(parent, changes)
    old, new = tables_of(parent), tables_of(spec)
    upgrade = steps(old, new, entities, fields)
    if not upgrade:
        return added
    back_entities = {now: was for was, now in entities.items()}
    back_fields = {(entities.get(e, e), now): was for (e, was), now in fields.items()}
    downgrade = steps(new, old, back_entities, back_fields)
    said = [c for c in dict.fromkeys(changes) if not c.startswith("changed template")]
    title = "; ".join(said) if said else f"Change the tables of {spec.name}"
    slug = snake(said[0] if said else "change tables")[:40].strip("_") or "change_tables"
    title = title[:1].upper() + title[1:] + "."
    return [*added, _revision_file(spec, number, slug, title, upgrade, downgrade)]


def with_migrations(
    parent: ProjectSpec | None,
    spec: ProjectSpec,
    changes: list[str],
    parent_files: list[FileOut],
    generated: list[FileOut],
) -> list[FileOut]:
    """A generation's source and test files: its parent's, overwritten by the generated
    ones. A fastapi-service project with the template's migration environment keeps its
    parent's migrations (not the first one rendered for the new spec) and gets the next."""
    files = {file.path: file for file in parent_files}
    numbered = set(revisions(spec, (f.path for f in generated)).values()) if parent else set()
    files.update((f.path, f) for f in generated if f.path not in numbered)
    if spec.template == TEMPLATE and environment_path(spec) in files:
        existing = [f.path for f in parent_files] if parent else list(files)
        added = migration_files(parent, spec, changes, existing)
        files.update((f.path, f) for f in added)
    return list(files.values())
