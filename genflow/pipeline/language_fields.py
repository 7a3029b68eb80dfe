"""The builtin requirements language, part 3: fields.

A field list is split on commas and "and" (outside parentheses). Each item is a name of
one to four words, with optional articles and adjectives in front (``a required
title``, ``an optional description``, ``a unique email``) and its options after it in
one of three ways: ``priority (integer, required)``, ``priority: integer``, ``priority
as an integer``. Options: a type (see `TYPE_WORDS`), the name of another entity (a
reference), ``one of a/b/c`` (a choice), ``required``, ``optional``, ``unique``, ``not
unique``. A few spoken forms are fields too: ``mark them done`` and ``whether it is
done`` (a boolean ``done``), ``a done flag`` (a boolean), ``assign them to a user`` (a
reference to User).

A field without a type gets one from its name (``email`` is text, ``year`` an integer,
``due_date`` a date, ``created_at`` a datetime, ``is_active`` and ``done`` booleans,
``price`` a float, a field named like an entity a reference to it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genflow.pipeline.spec import TYPE_WORDS, BadRequirements, FieldSpec, FieldType, snake

_STOP = """
a an the each every all any some and or of to with has have had is are be been
can could should must will would may might shall that which who where when why how
it its this these those they them their there we i you he she me us
something nothing anything everything not no also for from in on by as at so if
whether make add create remove delete rename give many belongs belong
"""
STOP_WORDS = frozenset(_STOP.split())  # never part of an entity's or a field's name
_INT_NAMES = {"year", "count", "age", "quantity", "number", "rank", "size", "pages", "stock"}
_FLOAT_NAMES = {"price", "amount", "rating", "score", "weight", "cost", "total"}
_BOOL_NAMES = {"active", "done", "enabled", "completed", "archived", "published", "paid"}
_RESERVED = {"id", "class", "def", "from", "import", "return", "type", "in", "is", "not"}
_ARTICLES = r"(?:a|an|the|its|their|his|her|some|each)"
_KINDS = r"(?:fields?|columns?|attributes?|propert(?:y|ies))"
_ADJECTIVES = {"required": "required", "mandatory": "required", "optional": "optional"}
_ADJECTIVES["unique"] = "unique"

_SPOKEN_BOOL = [
    re.compile(
        r"^(?:mark|flag)\s+(?:(?:them|it|each one|one|these|those)\s+)?(?:as\s+)?"
        r"(?P<name>[a-z]\w*)(?:\s+or\s+not)?$",
        re.I,
    ),
    re.compile(
        r"^(?:whether|if)\s+(?:it|they|(?:the\s+)?\w+)\s+(?:is|are|was|were|has been"
        r"|have been)\s+(?P<name>[a-z]\w*)$",
        re.I,
    ),
    re.compile(r"^(?P<name>[a-z]\w*(?:\s+[a-z]\w*)?)\s+(?:flag|boolean|yes/no)$", re.I),
]
_ASSIGN = re.compile(
    r"^(?:assign|link|attach|connect)\s+(?:them|it|each one)\s+to\s+"
    rf"(?:{_ARTICLES}\s+)?(?P<name>[a-z]\w*(?:\s+[a-z]\w*)?)$",
    re.I,
)
_OPTIONS_AFTER = [
    re.compile(r"^(?P<name>[^():]+?)\s*\((?P<attrs>[^)]*)\)$"),
    re.compile(r"^(?P<name>[^():]+?)\s*:\s*(?P<attrs>.+)$"),
    re.compile(r"^(?P<name>.+?)\s+(?:as|of type)\s+(?P<attrs>.+)$", re.I),
]


def split_items(text: str) -> list[str]:
    """Split on commas and 'and' outside parentheses; a leading 'and'/'or' goes."""
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
        item = re.sub(r"^\s*(?:and|or|plus)\s+", "", item.strip(), flags=re.I)
        pieces = re.split(r"\s+(?:and|plus)\s+(?![^()]*\))", item)
        out.extend(p.strip() for p in pieces if p.strip())
    return out


def option_words(text: str) -> list[str] | None:
    """``required and unique``, ``an integer``, ``one of low/high``: the options, or None
    if a piece is no option (an entity name counts only written as one, ``a User``)."""
    options = []
    for piece in split_items(text) if not re.match(r"^one of\b", text, re.I) else [text]:
        piece = re.sub(rf"^{_ARTICLES}\s+", "", piece, flags=re.I).strip()
        lowered = piece.lower()
        if lowered in TYPE_WORDS or lowered in _ADJECTIVES or lowered in ("not unique",):
            options.append(_ADJECTIVES.get(lowered, lowered))
        elif lowered in ("not required", "no longer required"):
            options.append("optional")
        elif re.match(r"^one of\s+\S", lowered):
            options.append(piece)
        elif re.match(r"^(?:reference|link) to\s+(\w+)$", lowered):
            options.append(piece.split()[-1])
        elif re.match(r"^[A-Z][A-Za-z0-9]*$", piece):
            options.append(piece)
        else:
            return None
    return options or None


@dataclass(frozen=True)
class ReadField:
    spec: FieldSpec
    explicit: bool  # options were given: a re-declared field takes them


def field_name(phrase: str) -> str:
    """The snake_case name a field phrase stands for: ``the due date field`` -> due_date."""
    phrase = re.sub(rf"^(?:{_ARTICLES}\s+)+", "", phrase.strip(), flags=re.I)
    phrase = re.sub(rf"\s+{_KINDS}$", "", phrase, flags=re.I)
    return snake(phrase)


def guess(name: str, entities: dict[str, str]) -> tuple[FieldType, str | None]:
    if name in entities:
        return "ref", entities[name]
    if name.endswith("_at") or name == "timestamp":
        return "datetime", None
    if name == "date" or name.endswith(("_date", "_on")):
        return "date", None
    if name.startswith(("is_", "has_")) or name in _BOOL_NAMES:
        return "bool", None
    if name in _INT_NAMES or name.endswith("_count"):
        return "int", None
    if name in _FLOAT_NAMES:
        return "float", None
    return "str", None


def read_field(raw: str, where: str, entities: dict[str, str]) -> ReadField:
    """One field item, with `entities` (snake name -> entity name) for references."""
    attrs: list[str] = []
    text = re.sub(r"^(?:give|set)\s+(?:them|it)\s+", "", raw.strip(), flags=re.I)
    for pattern in _SPOKEN_BOOL:
        if match := pattern.match(text):
            text, attrs = match["name"], ["boolean"]
            break
    if match := _ASSIGN.match(text):
        text = snake(match["name"])
        if text not in entities and text.endswith("s") and text[:-1] in entities:
            text = text[:-1]
    for pattern in _OPTIONS_AFTER:
        if match := pattern.match(text):
            text = match["name"]
            attrs += [a.strip() for a in re.split(r",|\s+and\s+", match["attrs"]) if a.strip()]
            break
    text = re.sub(
        rf"^(?:{_ARTICLES}\s+)?(?:new\s+)?{_KINDS}\s+(?:called\s+|named\s+)?", "", text, flags=re.I
    )
    words = re.sub(rf"^{_ARTICLES}\s+", "", text.strip(), flags=re.I).split()
    while words and words[0].lower() in _ADJECTIVES:
        attrs.append(_ADJECTIVES[words.pop(0).lower()])
    name = field_name(" ".join(words))
    if (
        not words
        or len(words) > 4
        # a single stop word is a name only with its options: "for (text)"
        or (any(w.lower() in STOP_WORDS for w in words) and (len(words) > 1 or not attrs))
        or not name.isidentifier()
    ):
        raise BadRequirements(f'{where}: cannot read field "{raw}"')
    if name in _RESERVED:
        raise BadRequirements(f'{where}: "{" ".join(words)}" cannot be a field name')
    kind, ref = guess(name, entities)
    field = FieldSpec(name=name, type=kind, ref=ref)
    apply_options(field, attrs, where, entities)
    return ReadField(field, explicit=bool(attrs))


def apply_options(field: FieldSpec, attrs: list[str], where: str, entities: dict[str, str]) -> None:
    """Set `field`'s type and flags from option words; unmentioned flags stay."""
    uniqueness: set[bool] = set()
    for attr in attrs:
        lowered = attr.lower().strip()
        lowered = re.sub(rf"^{_ARTICLES}\s+", "", lowered)
        choice = re.match(r"^one of\s+(.+)$", lowered)
        if lowered in TYPE_WORDS:
            field.type, field.ref, field.choices = TYPE_WORDS[lowered], None, []
        elif snake(lowered) in entities:
            field.type, field.ref, field.choices = "ref", entities[snake(lowered)], []
        elif choice:
            options = [snake(o) for o in re.split(r"\s*/\s*|\s*\|\s*|\s*,\s*|\s+or\s+", choice[1])]
            if len(options) < 2 or not all(o.isidentifier() for o in options):
                raise BadRequirements(f'{where}: "{attr}" needs at least two simple choices')
            field.type, field.choices, field.ref = "enum", options, None
        elif lowered in ("required", "mandatory"):
            field.required = True
        elif lowered in ("optional", "not required"):
            field.required = False
        elif lowered == "unique":
            uniqueness.add(True)
        elif lowered in ("not unique", "repeatable"):
            uniqueness.add(False)
        else:
            known = ", ".join(sorted(TYPE_WORDS))
            raise BadRequirements(
                f'{where}: unknown type or option "{attr}" for field "{field.name}"; types: '
                f"{known}, an entity name, or one of a/b/c; options: required, optional, unique"
            )
    if len(uniqueness) > 1:
        raise BadRequirements(
            f'{where}: field "{field.name}" is declared both unique and not unique'
        )
    if uniqueness:
        field.unique = True in uniqueness
    if field.unique and field.type == "bool":
        raise BadRequirements(f'{where}: field "{field.name}" is a boolean and cannot be unique')
