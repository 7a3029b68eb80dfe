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
from genflow.pipeline.templates.bounds import Bounds, Form

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

# The day of sample record `n` (year, month, day; 28 days a month): 2024-01-01 for n = 1,
# a valid and distinct date for every n. Records that a sample refers to are numbered
# from the test module's SAMPLES counter (1001 on), past the 31 days of one month.
_DAY_OF_N = "2024 + (n - 1) // 336, (n - 1) // 28 % 12 + 1, (n - 1) % 28 + 1"
_ISO_DAY_OF_N = "{2024 + (n - 1) // 336}-{(n - 1) // 28 % 12 + 1:02d}-{(n - 1) % 28 + 1:02d}"


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
    def is_email(self) -> bool:
        """A text field that holds an email address (by its name): validated, and
        lower-cased so that unique addresses compare as people expect."""
        return self.type == "str" and "email" in self.name.lower()

    @property
    def bounds(self) -> Bounds | None:
        """The field's minimum and maximum, if it is a number that has either."""
        return Bounds.of(self.spec)

    @property
    def bounded(self) -> bool:
        """Whether the field is a number with a minimum or a maximum."""
        return self.bounds is not None

    @property
    def big_int(self) -> bool:
        """An integer whose bounds reach past a 32-bit INTEGER column: stored in a
        BIGINT one instead."""
        if self.type != "int" or self.bounds is None:
            return False
        edges = [v for v in (self.bounds.low, self.bounds.high) if v is not None]
        return any(not -(2**31) <= v <= 2**31 - 1 for v in edges)

    @property
    def bounds_text(self) -> str:
        """The bounds in words: "1 to 5", "at least 0", "at most 500"; "" for none."""
        return self.bounds.text if self.bounds else ""

    @property
    def words(self) -> str:
        """The request's own words for the field (quoted) and its unit or meaning, on
        one line: '"the team they play for"; in minutes'; "" for neither."""
        said = [f'"{self.spec.label}"'] if self.spec.label else []
        said += [self.spec.description] if self.spec.description else []
        return " ".join("; ".join(said).split())

    @property
    def note(self) -> str:
        """`words` unquoted, for a schema's description: "the team they play for"."""
        said = [text for text in (self.spec.label, self.spec.description) if text]
        return " ".join("; ".join(said).split())

    @property
    def help_words(self) -> str:
        """`words` for a command-line help, without a label the option already says
        ("class" for --class)."""
        label = self.spec.label or ""
        if "--" + "-".join(label.lower().split()) != self.option:
            return self.words
        return " ".join((self.spec.description or "").split())

    @property
    def meaning(self) -> str:
        """`words` for a Markdown table cell."""
        return self.words.replace("|", "/")

    def outside(self, form: Form = "py") -> list[str]:
        """Values just outside the bounds (see `Bounds.outside`)."""
        return self.bounds.outside(form) if self.bounds else []

    def edges(self, form: Form = "py") -> list[str]:
        """The bounds themselves, both allowed."""
        return self.bounds.edges(form) if self.bounds else []

    @property
    def int_limits(self) -> tuple[str, str]:
        """The smallest and largest value of an integer field, as the python-library and
        cli-tool modules spell them: its bounds where the spec sets them, else the 64-bit
        limits (the names INT_MIN and INT_MAX those modules define)."""
        low = self.bounds.low if self.bounds else None
        high = self.bounds.high if self.bounds else None
        return (
            "INT_MIN" if low is None else str(int(low)),
            "INT_MAX" if high is None else str(int(high)),
        )

    def unfit(self, form: Form = "py") -> list[str]:
        """Values the field refuses whatever its bounds, as expressions of `form` ("py" or
        "text"): blank required text, text with a NUL or a lone surrogate, addresses that
        are no email, integers past 64 bits on a side the spec leaves open, and floats or
        decimals that are no finite number."""
        values: list[str] = []
        if self.type == "str":
            values += ['""', '"   "'] if self.required else []
            values += ['"a\\x00b"', '"a\\ud800b"']
            values += ['"not-an-email"', '"a@b"', '"a b@example.com"'] if self.is_email else []
        elif self.type == "int":
            low, high = self.int_limits
            numbers = ["2**63", "10**30"] if high == "INT_MAX" else []
            numbers += ["-(2**63) - 1"] if low == "INT_MIN" else []
            values += [f"str({n})" for n in numbers] if form == "text" else numbers
        elif self.type == "float":
            values += ['"nan"', '"inf"'] if form == "text" else ['float("nan")', 'float("-inf")']
        elif self.type == "decimal" and form == "text":
            values += ['"NaN"', '"Infinity"']
        elif self.type == "decimal":
            values += ['Decimal("NaN")', 'Decimal("sNaN")', 'Decimal("-Infinity")']
        return values

    def py(self) -> str:
        """A valid Python value for sample record `n` (a name in the test module)."""
        if self.bounds:
            return self.bounds.sample("py")
        if self.is_email:
            return f'f"{self.name}-{{n}}@example.com"'
        return {
            "str": f'f"{self.name}-{{n}}"',
            "int": "n",
            "float": "n + 0.5",
            "decimal": 'Decimal(f"{n}.25")',
            "bool": "n % 2 == 1",
            "date": f"_dt.date({_DAY_OF_N})",
            "datetime": f"_dt.datetime({_DAY_OF_N}, 12, 30)",
            "enum": self.enum_pick(),
            "ref": f"add_{self.target_var}(store, next(SAMPLES)).id",
        }[self.type]

    def json(self) -> str:
        """A valid JSON value for sample record `n`, as a Python expression."""
        if self.bounds:
            return self.bounds.sample("json")
        return {
            "decimal": 'f"{n}.25"',
            "date": f'f"{_ISO_DAY_OF_N}"',
            "datetime": f'f"{_ISO_DAY_OF_N}T12:30:00"',
            "enum": self.enum_pick() + ".value",
            "ref": f'create_{self.target_var}(client, next(SAMPLES))["id"]',
        }.get(self.type) or self.py()

    def text(self) -> str:
        """A valid command-line value for sample record `n`, as a Python expression
        (booleans are flags: True or False)."""
        if self.bounds:
            return self.bounds.sample("text")
        return {
            "int": "str(n)",
            "float": 'f"{n}.5"',
            "ref": f'str(add_{self.target_var}(db, next(SAMPLES))["id"])',
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


def _option(name: str, taken: set[str]) -> str:
    """The command-line option of a field: `--due-date` for due_date, `--class` for
    class_ (a name made safe keeps the user's word), `--help-text` for help."""
    option = "--" + (name.rstrip("_") or name).replace("_", "-")
    if option in taken:
        option = "--" + name.replace("_", "-")
    return option if option != "--help" else "--help-text"


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
        options: set[str] = set()
        for spec_field in entity.spec.fields:
            attr = spec_field.name
            if attr in _UNSAFE_ATTRS or attr.startswith("model_"):
                attr += "_"
            item = Field(spec_field, attr, _option(spec_field.name, options), entity)
            options.add(item.option)
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
        "has_words": any(f.note for e in entities for f in e.fields),
        "has_email": any(f.is_email for e in entities for f in e.fields),
        "has_ref": "ref" in types,
        # Whether a sample creates the records it refers to (numbered by SAMPLES).
        "samples_refer": any(f.type == "ref" for e in entities for f in e.sampled),
        "has_in_use": any(e.in_use_by for e in entities),
        "labels": TYPE_LABELS,
    }
