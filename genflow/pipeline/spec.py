"""`ProjectSpec` and the builtin requirements language.

The language is plain sentences:

- ``<Entity> has <field> [(<options>)], ..., and <field> [(<options>)].`` declares an
  entity and its fields. Options, comma-separated: a type (text, integer, float,
  decimal, boolean, date, datetime, the name of another entity for a reference, or
  ``one of a/b/c`` for a choice), ``required``, ``optional``, ``unique``.
- ``A <entity> links a <entity> to a <entity> [with <field>, ... and <field>].``
  declares an entity holding required references to the two others, plus fields.
- The first other sentence describes the project; later ones are kept as notes.

A field without a type gets one from its name (``email`` is text, ``year`` an integer,
``due_date`` a date, ``created_at`` a datetime, ``is_active`` a boolean, ``price`` a
float, a field named like an entity a reference to it).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

FieldType = Literal["str", "int", "float", "decimal", "bool", "date", "datetime", "enum", "ref"]
TEMPLATES = ("python-library", "fastapi-service", "cli-tool")
DEFAULT_TEMPLATE = "python-library"

TYPE_WORDS: dict[str, FieldType] = {
    "text": "str",
    "string": "str",
    "str": "str",
    "integer": "int",
    "int": "int",
    "number": "int",
    "float": "float",
    "decimal": "decimal",
    "money": "decimal",
    "boolean": "bool",
    "bool": "bool",
    "flag": "bool",
    "date": "date",
    "datetime": "datetime",
    "timestamp": "datetime",
}

_INT_NAMES = {"year", "count", "age", "quantity", "number", "rank", "size", "pages", "stock"}
_FLOAT_NAMES = {"price", "amount", "rating", "score", "weight", "cost", "total"}
_RESERVED = {"id", "class", "def", "from", "import", "return", "type", "in", "is", "not"}


class BadRequirements(ValueError):
    """Requirements the builtin provider cannot read; never worth a retry."""


class FieldSpec(BaseModel):
    name: str
    type: FieldType = "str"
    required: bool = False
    unique: bool = False
    choices: list[str] = Field(default_factory=list, description="for type enum")
    ref: str | None = Field(default=None, description="the entity a ref field points to")


class EntitySpec(BaseModel):
    name: str
    fields: list[FieldSpec] = Field(min_length=1)


class ProjectSpec(BaseModel):
    name: str
    description: str
    template: str = DEFAULT_TEMPLATE
    entities: list[EntitySpec] = Field(min_length=1)
    operations: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


_ARTICLE = r"(?:an?\s+|the\s+|each\s+|every\s+)?"
_ENTITY_SENTENCE = re.compile(
    rf"^{_ARTICLE}(?P<entity>[A-Za-z][\w ]*?)\s+has\s+(?P<fields>.+)$", re.I
)
_LINK_SENTENCE = re.compile(
    rf"^{_ARTICLE}(?P<entity>[A-Za-z]\w*)\s+links\s+{_ARTICLE}(?P<left>[A-Za-z]\w*)\s+to\s+"
    rf"{_ARTICLE}(?P<right>[A-Za-z]\w*)(?:\s+with\s+(?P<fields>.+))?$",
    re.I,
)
_FIELD = re.compile(rf"^{_ARTICLE}(?P<name>[A-Za-z][\w ]*?)\s*(?:\((?P<attrs>[^)]*)\))?$")


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text.strip())
    return [p.strip().rstrip(".!?").strip() for p in parts if p.strip().rstrip(".!?").strip()]


def _split_fields(text: str) -> list[str]:
    """Split on commas and 'and' outside parentheses."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    out: list[str] = []
    for item in items:
        pieces = re.split(r"\s+and\s+(?![^()]*\))", item.strip())
        out.extend(p.strip() for p in pieces if p.strip())
    return out


def snake(words: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", words.strip())
    return re.sub(r"\W+", "_", spaced.lower()).strip("_")


def pascal(words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[\s_]+", words.strip()) if w)


def _guess(name: str, entities: dict[str, str]) -> tuple[FieldType, str | None]:
    if name in entities:
        return "ref", entities[name]
    if name.endswith("_at") or name == "timestamp":
        return "datetime", None
    if name == "date" or name.endswith(("_date", "_on")):
        return "date", None
    if name.startswith(("is_", "has_")) or name in {"active", "done", "enabled"}:
        return "bool", None
    if name in _INT_NAMES or name.endswith("_count"):
        return "int", None
    if name in _FLOAT_NAMES:
        return "float", None
    return "str", None


def _parse_field(raw: str, where: str, entities: dict[str, str]) -> FieldSpec:
    match = _FIELD.match(raw)
    if match is None:
        raise BadRequirements(f'{where}: cannot read field "{raw}"')
    name = snake(match["name"])
    if not name.isidentifier() or name in _RESERVED:
        raise BadRequirements(f'{where}: "{match["name"]}" cannot be a field name')
    kind, ref = _guess(name, entities)
    field = FieldSpec(name=name, type=kind, ref=ref)
    uniqueness: set[bool] = set()
    for attr in (a.strip() for a in (match["attrs"] or "").split(",") if a.strip()):
        lowered = attr.lower()
        choice = re.match(r"^one of\s+(.+)$", lowered)
        if lowered in TYPE_WORDS:
            field.type, field.ref = TYPE_WORDS[lowered], None
        elif snake(attr) in entities:
            field.type, field.ref = "ref", entities[snake(attr)]
        elif choice:
            options = [snake(o) for o in re.split(r"\s*/\s*|\s*\|\s*|\s+or\s+", choice[1])]
            if len(options) < 2 or not all(o.isidentifier() for o in options):
                raise BadRequirements(f'{where}: "{attr}" needs at least two simple choices')
            field.type, field.choices, field.ref = "enum", options, None
        elif lowered == "required":
            field.required = True
        elif lowered == "optional":
            field.required = False
        elif lowered == "unique":
            uniqueness.add(True)
        elif lowered in ("not unique", "repeatable"):
            uniqueness.add(False)
        else:
            known = ", ".join(sorted(TYPE_WORDS))
            raise BadRequirements(
                f'{where}: unknown type or option "{attr}" for field "{name}"; types: {known}, '
                "an entity name, or one of a/b/c; options: required, optional, unique"
            )
    if len(uniqueness) > 1:
        raise BadRequirements(f'{where}: field "{name}" is declared both unique and not unique')
    field.unique = True in uniqueness
    if field.unique and field.type == "bool":
        raise BadRequirements(f'{where}: field "{name}" is a boolean and cannot be unique')
    return field


def _where(number: int, sentence: str) -> str:
    return f'sentence {number} ("{sentence}")'


def _entity_fields(
    raw_fields: list[str], number: int, sentence: str, entities: dict[str, str]
) -> list[FieldSpec]:
    fields = [_parse_field(raw, _where(number, sentence), entities) for raw in raw_fields]
    seen: set[str] = set()
    for field in fields:
        if field.name in seen:
            raise BadRequirements(f'{_where(number, sentence)}: field "{field.name}" is repeated')
        seen.add(field.name)
    return fields


def _declared(sentence: str) -> str | None:
    match = _LINK_SENTENCE.match(sentence) or _ENTITY_SENTENCE.match(sentence)
    return pascal(match["entity"]) if match else None


def parse_requirements(
    prompt: str, name: str | None = None, template: str | None = None
) -> ProjectSpec:
    """Read the builtin requirements language into a spec, or raise BadRequirements
    naming the sentence it could not read."""
    sentences = _sentences(prompt)
    entity_names = {snake(e): e for e in filter(None, map(_declared, sentences))}
    entities: dict[str, EntitySpec] = {}
    description: str | None = None
    notes: list[str] = []
    for number, sentence in enumerate(sentences, start=1):
        entity = _read_entity(number, sentence, entity_names)
        if entity is None:
            if description is None:
                description = sentence
            else:
                notes.append(sentence)
            continue
        if entity.name in entities:
            raise BadRequirements(f"{_where(number, sentence)}: {entity.name} is declared twice")
        entities[entity.name] = entity
    if not entities:
        raise BadRequirements(
            "no entity found: describe at least one with a sentence such as "
            '"Book has title (text, required), year (integer) and isbn (text, unique)."'
        )
    description = description or f"A project with {', '.join(entities)}"
    project = snake(name or re.sub(r"^(an?|the)\s+", "", description, flags=re.I))[:40]
    project = project.strip("_")
    if not project or not project[0].isalpha():
        project = "project_" + project
    return _finish(
        ProjectSpec(
            name=project,
            description=description,
            template=_template(template),
            entities=list(entities.values()),
            notes=notes,
        )
    )


def _template(template: str | None) -> str:
    if template is None:
        return DEFAULT_TEMPLATE
    if template not in TEMPLATES:
        raise BadRequirements(f'unknown template "{template}"; known: {", ".join(TEMPLATES)}')
    return template


def _read_entity(number: int, sentence: str, entity_names: dict[str, str]) -> EntitySpec | None:
    where = _where(number, sentence)
    link = _LINK_SENTENCE.match(sentence)
    if link is not None:
        refs = []
        for side in ("left", "right"):
            target = pascal(link[side])
            if snake(target) not in entity_names:
                raise BadRequirements(f"{where}: {target} is not an entity described anywhere")
            refs.append(FieldSpec(name=snake(target), type="ref", ref=target, required=True))
        extra = _split_fields(link["fields"]) if link["fields"] else []
        return EntitySpec(
            name=pascal(link["entity"]),
            fields=refs + _entity_fields(extra, number, sentence, entity_names),
        )
    match = _ENTITY_SENTENCE.match(sentence)
    if match is None:
        return None
    name = pascal(match["entity"])
    if not name.isidentifier():
        raise BadRequirements(f"{where}: bad entity name")
    return EntitySpec(
        name=name,
        fields=_entity_fields(_split_fields(match["fields"]), number, sentence, entity_names),
    )


def _finish(spec: ProjectSpec) -> ProjectSpec:
    """Check references and refresh the operations list."""
    names = {entity.name for entity in spec.entities}
    for entity in spec.entities:
        for field in entity.fields:
            if field.type == "ref" and field.ref not in names:
                raise BadRequirements(f"{entity.name}.{field.name} refers to unknown {field.ref}")
    order = dependency_order(spec)
    spec.operations = [f"create, get, list, update and delete {e.name}" for e in order]
    return spec


def dependency_order(spec: ProjectSpec) -> list[EntitySpec]:
    """Entities so that every required reference points to an earlier one."""
    by_name = {entity.name: entity for entity in spec.entities}
    ordered: list[EntitySpec] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def visit(entity: EntitySpec) -> None:
        if entity.name in placed:
            return
        if entity.name in visiting:
            raise BadRequirements(f"{entity.name} takes part in a circle of required references")
        visiting.add(entity.name)
        for field in entity.fields:
            if field.type == "ref" and field.required and field.ref in by_name:
                visit(by_name[field.ref])
        visiting.discard(entity.name)
        placed.add(entity.name)
        ordered.append(entity)

    for entity in spec.entities:
        visit(entity)
    return ordered


def extend_requirements(base: ProjectSpec, prompt: str) -> tuple[ProjectSpec, list[str]]:
    """An iteration: the parent's spec changed by `prompt`. Entity sentences add new
    entities or add (or retype) fields of existing ones; ``Remove <Entity>.`` and
    ``Remove <field> from <Entity>.`` take them away; ``Rename <Entity> to <Name>.``
    renames. Other sentences become notes. Returns the new spec and a readable list
    of the changes."""
    entities = {entity.name: entity.model_copy(deep=True) for entity in base.entities}
    notes = list(base.notes)
    changes: list[str] = []
    sentences = _sentences(prompt)
    known = {snake(e): e for e in [*entities, *filter(None, map(_declared, sentences))]}
    for number, sentence in enumerate(sentences, start=1):
        if _edit(entities, sentence, _where(number, sentence), changes):
            continue
        entity = _read_entity(number, sentence, known)
        if entity is None:
            notes.append(sentence)
            continue
        if entity.name not in entities:
            entities[entity.name] = entity
            changes.append(f"added entity {entity.name}")
            continue
        current = {f.name: f for f in entities[entity.name].fields}
        for field in entity.fields:
            verb = "changed" if field.name in current else "added"
            changes.append(f"{verb} field {entity.name}.{field.name}")
            current[field.name] = field
        entities[entity.name].fields = list(current.values())
    if not entities:
        raise BadRequirements("the iteration removes every entity")
    spec = base.model_copy(update={"entities": list(entities.values()), "notes": notes})
    return _finish(spec), changes


def _edit(entities: dict[str, EntitySpec], sentence: str, where: str, changes: list[str]) -> bool:
    remove_field = re.match(
        r"^remove\s+(?:the\s+)?(\w+)\s+from\s+(?:the\s+)?(\w+)$", sentence, re.I
    )
    remove = re.match(r"^remove\s+(?:the\s+)?(\w+)$", sentence, re.I)
    rename = re.match(r"^rename\s+(?:the\s+)?(\w+)\s+to\s+(\w+)$", sentence, re.I)
    if remove_field:
        gone, owner = snake(remove_field[1]), pascal(remove_field[2])
        if owner not in entities or gone not in {f.name for f in entities[owner].fields}:
            raise BadRequirements(f"{where}: {owner} has no field {gone}")
        entities[owner].fields = [f for f in entities[owner].fields if f.name != gone]
        if not entities[owner].fields:
            raise BadRequirements(f"{where}: {owner} would have no fields left")
        changes.append(f"removed field {owner}.{gone}")
        return True
    if remove:
        target = pascal(remove[1])
        if target not in entities:
            raise BadRequirements(f"{where}: there is no entity {target}")
        del entities[target]
        for entity in entities.values():
            entity.fields = [f for f in entity.fields if f.ref != target]
        changes.append(f"removed entity {target}")
        return True
    if rename:
        old, new = pascal(rename[1]), pascal(rename[2])
        if old not in entities:
            raise BadRequirements(f"{where}: there is no entity {old}")
        entities[new] = entities.pop(old)
        entities[new].name = new
        for entity in entities.values():
            for field in entity.fields:
                if field.ref == old:
                    field.ref = new
        changes.append(f"renamed entity {old} to {new}")
        return True
    return False
