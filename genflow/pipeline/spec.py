"""`ProjectSpec` and the builtin requirements language.

The language is plain sentences. A sentence of the form
``<Entity> has <field> [(<type>[, required][, unique])], ... and <field>.``
declares an entity; the first other sentence describes the project; any other
sentences are kept as notes. Types: text, integer, float, decimal, boolean, date,
datetime. A field without a type gets one from its name (``email`` is text,
``year`` an integer, ``created_at`` a datetime, ``is_active`` a boolean).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

FieldType = Literal["str", "int", "float", "decimal", "bool", "date", "datetime"]

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

_INT_NAMES = {"year", "count", "age", "quantity", "number", "rank", "size", "pages"}
_FLOAT_NAMES = {"price", "amount", "rating", "score", "weight", "cost", "total"}


class BadRequirements(ValueError):
    """Requirements the builtin provider cannot read; never worth a retry."""


class FieldSpec(BaseModel):
    name: str
    type: FieldType = "str"
    required: bool = False
    unique: bool = False


class EntitySpec(BaseModel):
    name: str
    fields: list[FieldSpec] = Field(min_length=1)


class ProjectSpec(BaseModel):
    name: str
    description: str
    entities: list[EntitySpec] = Field(min_length=1)
    operations: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


_ENTITY_SENTENCE = re.compile(
    r"^(?:an?\s+|the\s+|each\s+)?(?P<entity>[A-Za-z][\w ]*?)\s+has\s+(?P<fields>.+)$", re.I
)
_FIELD = re.compile(r"^(?:an?\s+|the\s+)?(?P<name>[A-Za-z][\w ]*?)\s*(?:\((?P<attrs>[^)]*)\))?$")


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


def _snake(words: str) -> str:
    return re.sub(r"\W+", "_", words.strip().lower()).strip("_")


def _pascal(words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[\s_]+", words.strip()) if w)


def _guess_type(name: str) -> FieldType:
    if name.endswith("_at") or name in {"timestamp"}:
        return "datetime"
    if name == "date" or name.endswith("_date") or name.endswith("_on"):
        return "date"
    if name.startswith(("is_", "has_")) or name in {"active", "done", "enabled"}:
        return "bool"
    if name in _INT_NAMES or name.endswith("_count"):
        return "int"
    if name in _FLOAT_NAMES:
        return "float"
    return "str"


def _parse_field(raw: str, sentence_no: int, sentence: str) -> FieldSpec:
    match = _FIELD.match(raw)
    if match is None:
        raise BadRequirements(f'sentence {sentence_no} ("{sentence}"): cannot read field "{raw}"')
    name = _snake(match["name"])
    attrs = [a.strip().lower() for a in (match["attrs"] or "").split(",") if a.strip()]
    field = FieldSpec(name=name, type=_guess_type(name))
    for attr in attrs:
        if attr in TYPE_WORDS:
            field.type = TYPE_WORDS[attr]
        elif attr == "required":
            field.required = True
        elif attr == "optional":
            field.required = False
        elif attr == "unique":
            field.unique = True
        else:
            known = ", ".join(sorted(set(TYPE_WORDS)))
            raise BadRequirements(
                f'sentence {sentence_no} ("{sentence}"): unknown type or option "{attr}" '
                f'for field "{name}"; known types: {known}; options: required, optional, unique'
            )
    return field


def parse_requirements(prompt: str, name: str | None = None) -> ProjectSpec:
    """Read the builtin requirements language into a spec, or raise BadRequirements
    naming the sentence it could not read."""
    entities: dict[str, EntitySpec] = {}
    description: str | None = None
    notes: list[str] = []
    for number, sentence in enumerate(_sentences(prompt), start=1):
        match = _ENTITY_SENTENCE.match(sentence)
        if match is None:
            if description is None:
                description = sentence
            else:
                notes.append(sentence)
            continue
        entity = _pascal(match["entity"])
        if not entity.isidentifier():
            raise BadRequirements(f'sentence {number} ("{sentence}"): bad entity name')
        fields = [_parse_field(raw, number, sentence) for raw in _split_fields(match["fields"])]
        seen: set[str] = set()
        for field in fields:
            if field.name in seen or not field.name.isidentifier():
                raise BadRequirements(
                    f'sentence {number} ("{sentence}"): field "{field.name}" is repeated '
                    "or not a valid name"
                )
            seen.add(field.name)
        if entity in entities:
            raise BadRequirements(f'sentence {number} ("{sentence}"): {entity} is declared twice')
        entities[entity] = EntitySpec(name=entity, fields=fields)
    if not entities:
        raise BadRequirements(
            "no entity found: describe at least one with a sentence such as "
            '"Book has title (text, required), year (integer) and isbn (text, unique)."'
        )
    description = description or f"A project with {', '.join(entities)}."
    project = _snake(name or re.sub(r"^(an?|the)\s+", "", description, flags=re.I))[:40]
    if not project or not project[0].isalpha():
        project = "project_" + project
    return ProjectSpec(
        name=project.strip("_"),
        description=description,
        entities=list(entities.values()),
        operations=[f"create, get, list and delete {e}" for e in entities],
        notes=notes,
    )


def extend_requirements(base: ProjectSpec, prompt: str) -> tuple[ProjectSpec, list[str]]:
    """An iteration: the parent's spec changed by `prompt`. Entity sentences add new
    entities or add (or retype) fields of existing ones; other sentences become notes.
    Returns the new spec and a readable list of the changes."""
    entities = {entity.name: entity.model_copy(deep=True) for entity in base.entities}
    notes = list(base.notes)
    changes: list[str] = []
    for number, sentence in enumerate(_sentences(prompt), start=1):
        match = _ENTITY_SENTENCE.match(sentence)
        if match is None:
            notes.append(sentence)
            continue
        name = _pascal(match["entity"])
        fields = [_parse_field(raw, number, sentence) for raw in _split_fields(match["fields"])]
        if name not in entities:
            entities[name] = EntitySpec(name=name, fields=fields)
            changes.append(f"added entity {name}")
            continue
        current = {f.name: f for f in entities[name].fields}
        for field in fields:
            changes.append(
                f"{'changed' if field.name in current else 'added'} field {name}.{field.name}"
            )
            current[field.name] = field
        entities[name].fields = list(current.values())
    spec = base.model_copy(
        update={
            "entities": list(entities.values()),
            "operations": [f"create, get, list and delete {e}" for e in entities],
            "notes": notes,
        }
    )
    return spec, changes
