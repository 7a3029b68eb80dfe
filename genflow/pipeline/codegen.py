"""Builtin code generation and documentation: a spec becomes a small Python library
(dataclasses with validation, an in-memory store with unique constraints, pytest
tests) whose own tests pass."""

from __future__ import annotations

import json
import textwrap

from genflow.db.repository import FileOut
from genflow.pipeline.spec import EntitySpec, FieldSpec, ProjectSpec

_PY_TYPES = {
    "str": "str",
    "int": "int",
    "float": "float",
    "decimal": "Decimal",
    "bool": "bool",
    "date": "date",
    "datetime": "datetime",
}
_CHECK_TYPES = {
    "str": "(str,)",
    "int": "(int,)",
    "float": "(float, int)",
    "decimal": "(Decimal, int)",
    "bool": "(bool,)",
    "date": "(date,)",
    "datetime": "(datetime,)",
}


def _sample(field: FieldSpec, n: int) -> str:
    return {
        "str": f'"{field.name}-{n}"',
        "int": str(n),
        "float": f"{n}.5",
        "decimal": f'Decimal("{n}.25")',
        "bool": "True" if n % 2 else "False",
        "date": f"date(2024, 1, {n})",
        "datetime": f"datetime(2024, 1, {n}, 12, 0)",
    }[field.type]


def _wrong(field: FieldSpec) -> str:
    return "12345" if field.type == "str" else '"not-a-value"'


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out


def _ordered(entity: EntitySpec) -> list[FieldSpec]:
    return [f for f in entity.fields if f.required] + [f for f in entity.fields if not f.required]


def _models(spec: ProjectSpec) -> str:
    out = [
        f'"""Data model of {spec.name}: {spec.description}."""',
        "",
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass",
        "from datetime import date, datetime",
        "from decimal import Decimal",
        "",
        "",
        "def check(value: object, name: str, kinds: tuple[type, ...], required: bool) -> None:",
        '    """Raise ValueError for a missing required value, TypeError for a wrong type."""',
        "    if value is None:",
        "        if required:",
        '            raise ValueError(f"{name} is required")',
        "        return",
        "    wrong_bool = isinstance(value, bool) and bool not in kinds",
        "    wrong_date = isinstance(value, datetime) and datetime not in kinds",
        "    if wrong_bool or wrong_date or not isinstance(value, kinds):",
        '        expected = " or ".join(k.__name__ for k in kinds)',
        '        raise TypeError(f"{name} must be {expected}, not {type(value).__name__}")',
    ]
    for entity in spec.entities:
        out += [
            "",
            "",
            "@dataclass",
            f"class {entity.name}:",
            f'    """A {entity.name} record."""',
            "",
        ]
        for field in _ordered(entity):
            hint = _PY_TYPES[field.type]
            out.append(
                f"    {field.name}: {hint}"
                if field.required
                else f"    {field.name}: {hint} | None = None"
            )
        out += ["    id: int | None = None", "", "    def __post_init__(self) -> None:"]
        for field in entity.fields:
            out.append(
                f'        check(self.{field.name}, "{field.name}", {_CHECK_TYPES[field.type]}, '
                f"{field.required})"
            )
    return "\n".join(out) + "\n"


def _store(spec: ProjectSpec) -> str:
    names = ", ".join(e.name for e in spec.entities)
    out = [
        f'"""In-memory storage of {spec.name} records with unique constraints."""',
        "",
        "from __future__ import annotations",
        "",
        f"from .models import {names}",
        "",
        "",
        "class NotFound(KeyError):",
        '    """No record with that id."""',
        "",
        "",
        "class Duplicate(ValueError):",
        '    """A unique field already holds that value."""',
        "",
        "",
        "class Store:",
        '    """Keeps records by id; ids are assigned on add and never reused."""',
        "",
        "    def __init__(self) -> None:",
        "        self._next_id = 1",
    ]
    for entity in spec.entities:
        out.append(f"        self._{_snake(entity.name)}: dict[int, {entity.name}] = {{}}")
    for entity in spec.entities:
        attr, var = f"self._{_snake(entity.name)}", _snake(entity.name)
        uniques = [f.name for f in entity.fields if f.unique]
        out += [
            "",
            f"    def add_{var}(self, record: {entity.name}) -> {entity.name}:",
            f'        """Store a new {entity.name} and return it with its id."""',
        ]
        for name in uniques:
            out += [
                f"        if record.{name} is not None and any(",
                f"            other.{name} == record.{name} for other in {attr}.values()",
                "        ):",
                f'            raise Duplicate("{name} must be unique")',
            ]
        out += [
            "        record.id = self._next_id",
            "        self._next_id += 1",
            f"        {attr}[record.id] = record",
            "        return record",
            "",
            f"    def get_{var}(self, record_id: int) -> {entity.name}:",
            f'        """The {entity.name} with that id, or NotFound."""',
            f"        if record_id not in {attr}:",
            f'            raise NotFound(f"no {entity.name} {{record_id}}")',
            f"        return {attr}[record_id]",
            "",
            f"    def list_{var}(self) -> list[{entity.name}]:",
            f'        """Every {entity.name}, oldest first."""',
            f"        return list({attr}.values())",
            "",
            f"    def delete_{var}(self, record_id: int) -> None:",
            f'        """Remove the {entity.name} with that id, or raise NotFound."""',
            f"        self.get_{var}(record_id)",
            f"        del {attr}[record_id]",
        ]
    return "\n".join(out) + "\n"


def _kwargs(entity: EntitySpec, n: int) -> str:
    return ", ".join(f"{f.name}={_sample(f, n)}" for f in _ordered(entity))


def _tests(spec: ProjectSpec) -> str:
    names = ", ".join(e.name for e in spec.entities)
    out = [
        f'"""Tests of {spec.name}, generated with the project."""',
        "",
        "from datetime import date, datetime",
        "from decimal import Decimal",
        "",
        "import pytest",
        "",
        f"from {spec.name}.models import {names}",
        f"from {spec.name}.store import Duplicate, NotFound, Store",
    ]
    for entity in spec.entities:
        var = _snake(entity.name)
        first = entity.fields[0]
        out += [
            "",
            "",
            f"def test_{var}_round_trip() -> None:",
            "    store = Store()",
            f"    added = store.add_{var}({entity.name}({_kwargs(entity, 1)}))",
            f"    assert store.get_{var}(added.id) == added",
            f"    assert store.list_{var}() == [added]",
            f"    store.delete_{var}(added.id)",
            "    with pytest.raises(NotFound):",
            f"        store.get_{var}(added.id)",
            "",
            "",
            f"def test_{var}_rejects_wrong_type() -> None:",
            "    with pytest.raises(TypeError):",
            f"        {entity.name}(**{{**dict({_kwargs(entity, 1)}), "
            f'"{first.name}": {_wrong(first)}}})',
        ]
        for field in entity.fields:
            if field.required:
                out += [
                    "",
                    "",
                    f"def test_{var}_requires_{field.name}() -> None:",
                    "    with pytest.raises(ValueError):",
                    f"        {entity.name}(**{{**dict({_kwargs(entity, 1)}), "
                    f'"{field.name}": None}})',
                ]
            if field.unique:
                out += [
                    "",
                    "",
                    f"def test_{var}_{field.name}_is_unique() -> None:",
                    "    store = Store()",
                    f"    store.add_{var}({entity.name}({_kwargs(entity, 1)}))",
                    "    with pytest.raises(Duplicate):",
                    f"        store.add_{var}({entity.name}(**{{**dict({_kwargs(entity, 2)}), "
                    f'"{field.name}": {_sample(field, 1)}}}))',
                ]
    return "\n".join(out) + "\n"


def generate_code(spec: ProjectSpec) -> list[FileOut]:
    """The source and test files of the project described by `spec`."""
    pyproject = textwrap.dedent(
        f"""\
        [project]
        name = "{spec.name.replace("_", "-")}"
        version = "0.1.0"
        description = {json.dumps(spec.description)}
        requires-python = ">=3.11"

        [project.optional-dependencies]
        test = ["pytest>=8"]
        """
    )
    exported = sorted([e.name for e in spec.entities] + ["Duplicate", "NotFound", "Store"])
    init = (
        f'"""{spec.description}."""\n\n'
        f"from .models import {', '.join(e.name for e in spec.entities)}\n"
        "from .store import Duplicate, NotFound, Store\n\n"
        f"__all__ = {json.dumps(exported)}\n"
    )
    return [
        FileOut("pyproject.toml", "source", pyproject.encode(), "application/toml"),
        FileOut(f"{spec.name}/__init__.py", "source", init.encode(), "text/x-python"),
        FileOut(f"{spec.name}/models.py", "source", _models(spec).encode(), "text/x-python"),
        FileOut(f"{spec.name}/store.py", "source", _store(spec).encode(), "text/x-python"),
        FileOut(f"tests/test_{spec.name}.py", "test", _tests(spec).encode(), "text/x-python"),
    ]


def generate_docs(spec: ProjectSpec, quality_score: float | None) -> list[FileOut]:
    """README and an API reference for the generated project."""
    score = "not measured" if quality_score is None else f"{quality_score:.0f}/100"
    readme = [
        f"# {spec.name}",
        "",
        f"{spec.description}.",
        "",
        "## Install, test, use",
        "",
        "```",
        "pip install -e '.[test]'",
        "python -m pytest",
        "```",
        "",
        "```python",
        f"from {spec.name} import Store, {spec.entities[0].name}",
        "",
        "store = Store()",
        "```",
        "",
        f"Quality score measured by genflow: {score}. See `docs/API.md` for every class.",
    ]
    if spec.notes:
        readme += ["", "## Notes", "", *[f"- {note}." for note in spec.notes]]
    api = [f"# {spec.name} API reference", ""]
    for entity in spec.entities:
        api += [
            f"## `{entity.name}`",
            "",
            "| field | type | required | unique |",
            "|---|---|---|---|",
        ]
        api += [
            f"| `{f.name}` | {f.type} | {'yes' if f.required else 'no'} | "
            f"{'yes' if f.unique else 'no'} |"
            for f in entity.fields
        ]
        var = _snake(entity.name)
        api += [
            "",
            f"`Store.add_{var}(record)`, `Store.get_{var}(id)`, `Store.list_{var}()`, "
            f"`Store.delete_{var}(id)`.",
            "",
        ]
    return [
        FileOut("README.md", "doc", ("\n".join(readme) + "\n").encode(), "text/markdown"),
        FileOut("docs/API.md", "doc", ("\n".join(api) + "\n").encode(), "text/markdown"),
    ]
