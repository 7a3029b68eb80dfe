"""The tables of a fastapi-service spec and the Alembic operations that turn one set of
tables into another, as the lines of Python a migration's `upgrade` holds.

Columns match the template's models.py (types, NOT NULL, unique constraints and foreign
keys named by the naming convention of its db.py), so that a database upgraded to the
latest migration holds exactly the models' schema. Tables are altered with
`op.batch_alter_table`, which SQLite needs (it copies the table) and PostgreSQL runs as
plain ALTER statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from genflow.pipeline.spec import ProjectSpec
from genflow.pipeline.templates.views import Entity, Field, template_context

LINE = 100  # the generated project's ruff line length

_TYPES = {  # spec type: (SQLAlchemy type, its SQL for PostgreSQL's USING cast)
    "str": ("sa.String()", "VARCHAR"),
    "int": ("sa.Integer()", "INTEGER"),
    "float": ("sa.Float()", "FLOAT"),
    "decimal": ("sa.Numeric(30, 2)", "NUMERIC(30, 2)"),
    "bool": ("sa.Boolean()", "BOOLEAN"),
    "date": ("sa.Date()", "DATE"),
    "datetime": ("sa.DateTime()", "TIMESTAMP"),
    "ref": ("sa.Integer()", "INTEGER"),
}
# What old rows get in a new required column (or a column made required): a value every
# response schema accepts (required text is not blank; an email is one).
_FILLS = {
    "str": "unknown",
    "float": "0",
    "bool": "0",
    "date": "1970-01-01",
    "datetime": "1970-01-01 00:00:00",
}


@dataclass(frozen=True)
class Call:
    """A Python call expression, written on one line when it fits, else one argument a
    line."""

    head: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Text:
    """A string literal, split into adjacent literals when it does not fit its line."""

    value: str


Node = str | Call | Text


def inline(node: Node) -> str:
    if isinstance(node, Text):
        return json.dumps(node.value)
    if isinstance(node, Call):
        return f"{node.head}({', '.join(inline(arg) for arg in node.args)})"
    return node


def render(node: Node, indent: int, tail: str = "") -> list[str]:
    """`node` as lines of code at column `indent`, ending with `tail`."""
    pad = " " * indent
    text = f"{pad}{inline(node)}{tail}"
    if len(text) <= LINE or isinstance(node, str):
        return [text]
    if isinstance(node, Text):
        words = node.value.split(" ")
        chunks = [words[0]]
        for word in words[1:]:
            if len(pad) + len(json.dumps(f"{chunks[-1]} {word}")) + len(tail) <= LINE:
                chunks[-1] += f" {word}"
            else:
                chunks[-1] += " "
                chunks.append(word)
        lines = [f"{pad}{json.dumps(chunk)}" for chunk in chunks]
        lines[-1] += tail
        return lines
    lines = [f"{pad}{node.head}("]
    for arg in node.args:
        lines += render(arg, indent + 4, ",")
    return [*lines, f"{pad}){tail}"]


@dataclass(frozen=True)
class Column:
    name: str
    type: Node
    sql_type: str
    nullable: bool
    unique: bool
    target: str | None  # the referenced table
    fill: str  # the value old rows get, as SQL text (unquoted)
    quoted: bool  # whether `fill` is an SQL string literal
    choices: tuple[str, ...] = ()  # an enum's (its type's name does not reach the database)

    def node(self, *, nullable: bool | None = None, default: bool = False) -> Call:
        """`sa.Column(...)` for this column, without its constraints."""
        args: list[Node] = [Text(self.name), self.type]
        args.append(f"nullable={self.nullable if nullable is None else nullable}")
        if default:
            args.append(f"server_default={json.dumps(self.fill)}")
        return Call("sa.Column", tuple(args))

    @property
    def fill_sql(self) -> str:
        """The value old rows get, in SQL; a unique column's differs row by row."""
        if self.unique and self.quoted and not self.target:
            # text: "unknown-7"; an email: "unknown-7@example.com"
            head, _, domain = self.fill.partition("@")
            return f"'{head}-' || id" + (f" || '@{domain}'" if domain else "")
        if self.unique and self.sql_type in ("INTEGER", "BIGINT", "FLOAT", "NUMERIC(30, 2)"):
            return "id"
        return "'{}'".format(self.fill.replace("'", "''")) if self.quoted else self.fill

    @property
    def fills_by_row(self) -> bool:
        """Whether old rows need an UPDATE (a reference, a unique value) rather than a
        server default."""
        return self.target is not None or self.unique

    def uq(self, table: str) -> str:
        return f"uq_{table}_{self.name}"

    def fk(self, table: str) -> str:
        return f"fk_{table}_{self.name}"


@dataclass(frozen=True)
class Table:
    entity: str
    name: str
    columns: dict[str, Column]


def _fill(field: Field) -> tuple[str, bool]:
    """The value old rows get (SQL text) and whether it is a string literal."""
    if field.type == "ref" and field.target is not None:
        return f'(SELECT min(id) FROM "{field.target.plural}")', False
    if field.type == "enum":
        return field.choices[0], True
    if field.is_email:
        return "unknown@example.com", True
    bounds = field.bounds
    if field.type in ("int", "float", "decimal"):
        value: int | float | Decimal = 0
        if bounds is not None and bounds.low is not None and bounds.low > 0:
            value = bounds.low
        elif bounds is not None and bounds.high is not None and bounds.high < 0:
            value = bounds.high
        text = f"{value:f}" if isinstance(value, Decimal) else str(value)
        return text, False
    return _FILLS[field.type], True


def _column(field: Field) -> Column:
    if field.type == "enum":
        values = tuple(Text(choice) for choice in field.choices)
        name = f'name="{field.enum_cls.lower()}"'
        kind: Node = Call("sa.Enum", (*values, name, "native_enum=False"))
        sql = f"VARCHAR({max(len(choice) for choice in field.choices)})"
    elif field.big_int:
        kind, sql = "sa.BigInteger()", "BIGINT"
    else:
        kind, sql = _TYPES[field.type]
    fill, quoted = _fill(field)
    target = field.target.plural if field.type == "ref" and field.target else None
    choices = tuple(field.choices) if field.type == "enum" else ()
    return Column(
        field.name, kind, sql, not field.required, field.unique, target, fill, quoted, choices
    )


def tables_of(spec: ProjectSpec | None) -> dict[str, Table]:
    """The tables of `spec`'s entities by entity name, in dependency order; none for no spec
    or a project that is not a fastapi-service."""
    if spec is None or spec.template != "fastapi-service":
        return {}
    entities = cast(list[Entity], template_context(spec)["entities"])
    return {
        entity.name: Table(
            entity.name, entity.plural, {field.name: _column(field) for field in entity.fields}
        )
        for entity in entities
    }
