"""The view models the project templates render: entities and fields with the names,
sample values and labels the templates need, derived from a `ProjectSpec`. A field's
limits are in field_limits, its sample values in samples."""

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
from genflow.pipeline.templates.samples import SampleValues

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
class Field(SampleValues):
    """A spec field with the names and sample values the templates use; what it accepts
    and its sample values come from its bases (FieldLimits, SampleValues)."""

    spec: FieldSpec
    attr: str
    option: str
    entity: Entity
    enum_cls: str = ""
    choices: list[str] = field(default_factory=list)
    target: Entity | None = None
    in_sample: bool = True

    @property
    def unique(self) -> bool:
        return self.spec.unique

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
