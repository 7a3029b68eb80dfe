"""The builtin requirements language, part 3: fields.

`read_field` makes one item of a field list (its grammar is in
`genflow.pipeline.language.items`) a field: its name
(`genflow.pipeline.language.field_names`), its options
(`genflow.pipeline.language.options`) and its bounds
(`genflow.pipeline.language.bounds`).

Spoken forms are items too: "whether it is indoors" and "mark them done" (booleans),
"assign them to a user" (a reference). A field without a type gets one from its unit,
its bounds or its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genflow.pipeline.language.bounds import set_bounds
from genflow.pipeline.language.field_names import KEEP_PLURAL, guess, safe_name
from genflow.pipeline.language.items import parse_item
from genflow.pipeline.language.options import apply_options
from genflow.pipeline.language.sentences import singular
from genflow.pipeline.language.tokens import tokenize
from genflow.pipeline.language.words import AUXILIARIES, DETERMINERS, PRONOUNS
from genflow.pipeline.spec import TYPE_WORDS, BadRequirements, FieldSpec, FieldType, snake

_MAX_NAME_WORDS = 6
_NOT_NAMES = DETERMINERS | PRONOUNS | AUXILIARIES | {"and", "or", "not", "no", "with", "of"}


_SPOKEN_BOOL = [
    re.compile(
        r"^(?:mark|flag)\s+(?:(?:them|it|each one|one|these|those)\s+)?(?:as\s+)?"
        r"(?P<name>[a-z]\w*)(?:\s+or\s+not)?$",
        re.I,
    ),
    re.compile(
        r"^(?:whether|if)\s+(?:it|they|he|she|(?:the|a|an)?\s*\w+)\s+(?:is|are|was|were"
        r"|has been|have been|gets|get)\s+(?P<name>[a-z][\w ]*?)(?:\s+or\s+not)?$",
        re.I,
    ),
    re.compile(
        r"^(?:whether|if)\s+(?:it|they|he|she|(?:the|a|an)?\s*\w+)\s+(?P<verb>has|have"
        r"|needs|need|allows|allow|includes|include)\s+(?:a\s+|an\s+)?(?P<name>[a-z][\w ]*?)"
        r"(?:\s+or\s+not)?$",
        re.I,
    ),
    re.compile(r"^(?:is\s+it|are\s+they)\s+(?P<name>[a-z][\w ]*?)$", re.I),
    re.compile(r"^(?:(?:is|are)\s+)?(?:either\s+)?(?P<name>[a-z][\w-]*)\s+or\s+not$", re.I),
]
_ASSIGN = re.compile(
    r"^(?:assign|link|attach|connect)\s+(?:them|it|each one)\s+to\s+"
    r"(?:(?:a|an|the|one)\s+)?(?P<name>[a-z]\w*(?:\s+[a-z]\w*)?)$",
    re.I,
)


@dataclass(frozen=True)
class ReadField:
    spec: FieldSpec
    explicit: bool  # options were given: a re-declared field takes them


def read_field(raw: str, where: str, entities: dict[str, str], plural: bool = False) -> ReadField:
    """One field item, with `entities` (snake name -> entity name) for references.
    `plural`: the entity was named in the plural, so a bare plural field is one value
    per record ("students have names and grades": a name and a grade)."""
    text = re.sub(r"^(?:give|set)\s+(?:them|it)\s+", "", raw.strip(), flags=re.I)
    text = re.sub(r"\s+(?:and|or)\s*$", "", text, flags=re.I)
    text = re.sub(
        r"^(?:(?:a|an|the)\s+)?(?:new\s+)?(?:field|column|attribute|property)\s+"
        r"(?:called|named)\s+",
        "",
        text,
        flags=re.I,
    )
    boolean = False
    for pattern in _SPOKEN_BOOL:
        if match := pattern.match(text):
            verb = match.groupdict().get("verb")
            text = f"has {match['name']}" if verb else match["name"]
            boolean = True
            break
    if match := _ASSIGN.match(text):
        text = snake(match["name"])
        if text not in entities and text.endswith("s") and text[:-1] in entities:
            text = text[:-1]
    tokens = tokenize(text)
    item = parse_item(tokens, where, raw)
    words = [t for t in item.name if t.is_word or t.is_number]
    name_text = " ".join(t.text for t in words)
    if plural and len(words) == 1 and item.name == tokens[: len(item.name)]:
        one = singular(name_text)
        if one.lower() != name_text.lower() and name_text.lower() not in KEEP_PLURAL:
            name_text = one
    name = safe_name(snake(name_text))
    if (
        not words
        or len(words) > _MAX_NAME_WORDS
        or len(words) != len(item.name)
        or all(w.low in _NOT_NAMES for w in words)
        # "authors with a name" is two things, not one name
        or any(w.low in ("with", "a", "an", "each", "every") for w in words[1:])
        or any(w.low in AUXILIARIES - {"has"} or w.low in PRONOUNS for w in words)
        or not name.isidentifier()
    ):
        raise BadRequirements(f'{where}: cannot read field "{raw}"')
    kind, ref = guess(name, entities)
    if boolean:
        kind = "bool"
    said = " ".join(t.text for t in [*item.name, *item.label_tail] if t.is_word or t.is_number)
    label = said if snake(said) != name and snake(singular(said)) != name else None
    field = FieldSpec(name=name, type=kind, ref=ref, label=label, description=item.description)
    units = [o for o in item.options if o.endswith("-unit")]
    attrs = [o for o in item.options if not o.endswith("-unit")]
    if units and not _typed(attrs):
        unit_types: dict[str, FieldType] = {"decimal-unit": "decimal", "float-unit": "float"}
        field.type, field.ref = unit_types.get(units[0], "int"), None
    if item.choices:
        if len(item.choices) < 2:
            attrs.append(item.choices[0])  # one word in parentheses: an entity or a type
        else:
            attrs.append("one of " + "/".join(item.choices))
    apply_options(field, attrs, where, entities)
    if item.bounds is not None:
        set_bounds(field, item.bounds, where, explicit_type=_typed(attrs))
    explicit = bool(attrs) or item.bounds is not None or bool(units) or boolean
    return ReadField(field, explicit=explicit)


def _typed(attrs: list[str]) -> bool:
    return any(a.lower() in TYPE_WORDS for a in attrs)
