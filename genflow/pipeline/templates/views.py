"""The view models the project templates render: entities and fields with the names,
sample values and labels the templates need, derived from a `ProjectSpec`."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from genflow.pipeline.spec import (
    EntitySpec,
    FieldSpec,
    ProjectSpec,
    dependency_order,
    pascal,
    snake,
)

# Attribute names a field cannot take as is: Python keywords and names used by
# SQLAlchemy's declarative base or pydantic's BaseModel. Such fields get a trailing "_".
_UNSAFE_ATTRS = {
    *keyword.kwlist,
    "self",
    "metadata",
    "registry",
    "construct",
    "copy",
    "dict",
    "from_orm",
    "json",
    "parse_file",
    "parse_obj",
    "parse_raw",
    "schema",
    "schema_json",
    "update_forward_refs",
    "validate",
}
# Names the generated modules import or define; an entity class never takes one.
_TAKEN_CLASS_NAMES = {
    "Annotated",
    "Any",
    "Base",
    "BaseModel",
    "Boolean",
    "CliRunner",
    "ConfigDict",
    "Date",
    "DateTime",
    "Decimal",
    "Depends",
    "Duplicate",
    "Engine",
    "Enum",
    "FastAPI",
    "Float",
    "ForeignKey",
    "HTTPException",
    "InUse",
    "Integer",
    "IntegrityError",
    "InvalidOperation",
    "Iterator",
    "Mapped",
    "MissingReference",
    "NotFound",
    "Numeric",
    "Path",
    "Query",
    "Request",
    "Response",
    "Session",
    "StaticPool",
    "Storage",
    "Store",
    "StoreError",
    "StrEnum",
    "String",
    "TestClient",
    "APIRouter",
    "AsyncIterator",
    "Limit",
    "NoReturn",
    "Offset",
    "RecordId",
    "Result",
    "SessionDep",
    "StorageError",
    "TypeVar",
}

TYPE_LABELS = {
    "str": "text",
    "int": "integer",
    "float": "float",
    "decimal": "decimal",
    "bool": "boolean",
    "date": "date",
    "datetime": "datetime",
    "enum": "choice",
    "ref": "reference (id)",
}


@dataclass
class Field:
    """A spec field with the names and sample values the templates use."""

    spec: FieldSpec
    attr: str
    option: str
    entity: Entity
    enum_cls: str = ""
    choices: list[str] = field(default_factory=list)
    target: Entity | None = None
    in_sample: bool = True

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def required(self) -> bool:
        return self.spec.required

    @property
    def unique(self) -> bool:
        return self.spec.unique

    @property
    def bounded(self) -> bool:
        """Whether the field is a number with a minimum or a maximum."""
        numeric = self.type in ("int", "float", "decimal")
        return numeric and (self.spec.minimum is not None or self.spec.maximum is not None)

    def literal(self, value: float | None) -> str:
        """`value` as a Python literal of the field's type ("None" for no bound)."""
        if value is None:
            return "None"
        if self.type == "int":
            return str(int(value))
        if self.type == "decimal":
            return f'Decimal("{_short(value)}")'
        return repr(float(value))

    def json_literal(self, value: float) -> str:
        """`value` as JSON sends it, as a Python expression (decimals are strings)."""
        return f'"{value:.2f}"' if self.type == "decimal" else self.literal(value)

    def _samples(self) -> list[float]:
        """Up to three distinct values inside the bounds."""
        low, high = self.spec.minimum, self.spec.maximum
        step = 1.0 if self.type == "int" else None
        if low is not None and high is not None:
            if step is None:
                return [round(low + (high - low) * k / 4, 2) for k in (1, 2, 3)]
            return sorted({min(high, low + k) for k in (0, 1, 2)})
        if low is not None:
            return [low + k for k in (1, 2, 3)]
        assert high is not None
        return [high - k for k in (1, 2, 3)]

    def _pick(self, values: list[str]) -> str:
        return values[0] if len(values) == 1 else f"({', '.join(values)})[(n - 1) % {len(values)}]"

    def outside(self) -> list[str]:
        """Python values just outside the bounds."""
        out = []
        if self.spec.minimum is not None:
            out.append(self.literal(self.spec.minimum - 1))
        if self.spec.maximum is not None:
            out.append(self.literal(self.spec.maximum + 1))
        return out

    @property
    def bounds_text(self) -> str:
        """The bounds in words: "1 to 5", "at least 0", "at most 500"; "" for none."""
        if not self.bounded:
            return ""
        low, high = self.spec.minimum, self.spec.maximum
        if low is not None and high is not None:
            return f"{_short(low)} to {_short(high)}"
        return f"at least {_short(low)}" if low is not None else f"at most {_short(high or 0)}"

    @property
    def meaning(self) -> str:
        """The request's own words for the field and its unit, for the docs."""
        said = [f'"{self.spec.label}"'] if self.spec.label else []
        said += [self.spec.description] if self.spec.description else []
        return "; ".join(said).replace("|", "/")

    def outside_text(self) -> list[str]:
        """Command-line values just outside the bounds, as Python string literals."""
        low, high = self.spec.minimum, self.spec.maximum
        values = ([low - 1] if low is not None else []) + ([high + 1] if high is not None else [])
        return [f'"{_short(v)}"' for v in values]

    def edges_text(self) -> list[str]:
        """The bounds as command-line values."""
        values = [v for v in (self.spec.minimum, self.spec.maximum) if v is not None]
        return [f'"{_short(v)}"' for v in values]

    def edges(self) -> list[str]:
        """The bounds themselves, as Python values: both are allowed."""
        return [self.literal(v) for v in (self.spec.minimum, self.spec.maximum) if v is not None]

    def py(self) -> str:
        """A valid Python value for sample record `n` (a name in the test module)."""
        if self.bounded:
            samples = self._samples()
            if self.type == "decimal":
                return f"Decimal({self._pick([self.json_literal(v) for v in samples])})"
            return self._pick([self.literal(v) for v in samples])
        return {
            "str": f'f"{self.name}-{{n}}"',
            "int": "n",
            "float": "n + 0.5",
            "decimal": 'Decimal(f"{n}.25")',
            "bool": "n % 2 == 1",
            "date": "_dt.date(2024, 1, n)",
            "datetime": "_dt.datetime(2024, 1, n, 12, 30)",
            "enum": self.enum_pick(),
            "ref": f"add_{self.target_var}(store, n).id",
        }[self.type]

    def json(self) -> str:
        """A valid JSON value for sample record `n`, as a Python expression."""
        if self.bounded:
            return self._pick([self.json_literal(v) for v in self._samples()])
        return {
            "decimal": 'f"{n}.25"',
            "date": 'f"2024-01-{n:02d}"',
            "datetime": 'f"2024-01-{n:02d}T12:30:00"',
            "enum": self.enum_pick() + ".value",
            "ref": f'create_{self.target_var}(client, n)["id"]',
        }.get(self.type) or self.py()

    def text(self) -> str:
        """A valid command-line value for sample record `n`, as a Python expression
        (booleans are flags: True or False)."""
        if self.bounded:
            return f"str({self.json()})" if self.type != "decimal" else self.json()
        return {
            "int": "str(n)",
            "float": 'f"{n}.5"',
            "ref": f'str(add_{self.target_var}(db, n)["id"])',
        }.get(self.type) or self.json()

    def enum_pick(self) -> str:
        return f"list({self.enum_cls})[(n - 1) % len({self.enum_cls})]"

    @property
    def target_var(self) -> str:
        return self.target.var if self.target else ""

    def wrong_py(self) -> str:
        """A Python value of the wrong type."""
        return {
            "str": "12345",
            "int": '"12"',
            "float": '"1.5"',
            "decimal": '"1.25"',
            "bool": '"yes"',
            "date": "_dt.datetime(2024, 1, 1, 12, 30)",
            "datetime": "_dt.date(2024, 1, 1)",
            "enum": "12345",
            "ref": '"1"',
        }[self.type]

    def wrong_json(self) -> str:
        """A JSON value of the wrong type, as a Python expression."""
        return {
            "str": "12345",
            "int": '"twelve"',
            "float": '"one and a half"',
            "decimal": '"a lot"',
            "bool": '"maybe"',
            "date": '"2024-13-45"',
            "datetime": '"yesterday"',
            "enum": '"not_a_choice"',
            "ref": '"first"',
        }[self.type]


@dataclass
class Entity:
    """A spec entity with the names the templates use."""

    spec: EntitySpec
    cls: str
    var: str
    plural: str
    fields: list[Field] = field(default_factory=list)
    referrers: list[Field] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def of(self, kind: str) -> list[Field]:
        return [f for f in self.fields if f.type == kind]

    @property
    def required(self) -> list[Field]:
        return [f for f in self.fields if f.required]

    @property
    def unique(self) -> list[Field]:
        return [f for f in self.fields if f.unique]

    @property
    def bounded(self) -> list[Field]:
        return [f for f in self.fields if f.bounded]

    @property
    def sampled(self) -> list[Field]:
        return [f for f in self.fields if f.in_sample]

    @property
    def changeable(self) -> Field | None:
        """A field an update test can change without touching references."""
        plain = [f for f in self.fields if f.type != "ref"]
        return plain[0] if plain else None

    @property
    def in_use_by(self) -> Field | None:
        """A reference to this entity that sample records fill, if any."""
        return next((f for f in self.referrers if f.in_sample), None)


def _short(value: float) -> str:
    """A number as short text: 5 for 5.0, 2.5 for 2.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def _entities(spec: ProjectSpec) -> list[Entity]:
    """Entities in dependency order, with fields resolved."""
    ordered = dependency_order(spec)
    vars_ = {snake(e.name) for e in ordered}
    out: dict[str, Entity] = {}
    for entity_spec in ordered:
        var = snake(entity_spec.name)
        plural = _plural(var)
        if plural in vars_ or plural == var:
            plural = f"{var}_list"
        name = entity_spec.name
        cls = name if name not in _TAKEN_CLASS_NAMES else f"{name}Record"
        out[name] = Entity(entity_spec, cls, var, plural)
    position = list(out).index
    for entity in out.values():
        for spec_field in entity.spec.fields:
            attr = spec_field.name
            if attr in _UNSAFE_ATTRS or attr.startswith("model_"):
                attr += "_"
            option = "--" + spec_field.name.replace("_", "-")
            item = Field(spec_field, attr, option if option != "--help" else "--help-text", entity)
            if spec_field.type == "enum":
                item.choices = list(dict.fromkeys(spec_field.choices)) or ["unknown", "other"]
                item.enum_cls = entity.cls + pascal(spec_field.name)
            if spec_field.type == "ref" and spec_field.ref is not None:
                item.target = out[spec_field.ref]
                item.in_sample = position(spec_field.ref) < position(entity.name)
                item.target.referrers.append(item)
            entity.fields.append(item)
    return list(out.values())


def template_context(spec: ProjectSpec) -> dict[str, object]:
    entities = _entities(spec)
    types = {f.type for e in entities for f in e.fields}
    return {
        "spec": spec,
        "pkg": spec.name,
        "env_prefix": spec.name.upper(),
        "description": spec.description.rstrip("."),
        "entities": entities,
        "types": types,
        "enums": [f for e in entities for f in e.of("enum")],
        "has_unique": any(e.unique for e in entities),
        "has_bounds": any(e.bounded for e in entities),
        "has_ref": "ref" in types,
        "has_in_use": any(e.in_use_by for e in entities),
        "labels": TYPE_LABELS,
    }
