"""The builtin requirements language, part 3: fields, read by a small grammar over the
tagged tokens of `genflow.pipeline.language_words`.

A field list is split into items (`split_list`: commas, "and", "plus", "as well as",
outside parentheses; "between 1 and 5" stays whole). One item is

    item     := [determiner] option-adjective* name modifier*
    name     := word+            up to the first modifier; may hold small words ("in
                                  stock", "date of birth"); a trailing "flag",
                                  "timestamp", "boolean" is the type ("a done flag")
    modifier := "(" options ")"  | ":" options | "as" options | "of type" options
              | bounds | "in" unit | "(" choice "," choice ... ")" | "one of" choices
              | ["which"|"that"] ("is"|"must be"|"should be") option
              | relative clause   ("the team they play for": a pronoun or "that"
                                  ends the name; the words are kept as the label)
    bounds   := "from" N "to" N | "between" N "and" N | N "-" N | N "to" N | N ".." N
              | "at least" N | "at most" N | "up to" N | "min" N | "max" N
              | "positive" | "non-negative"
    options  := type | entity | "required" | "optional" | "unique" | "not unique"
              | "one of" a/b/c | bounds | choice words

Spoken forms are items too: "whether it is indoors" and "mark them done" (booleans),
"assign them to a user" (a reference). A field without a type gets one from its unit,
its bounds or its name (``email`` is text, ``year`` an integer, ``due_date`` a date,
``created_at`` a datetime, ``is_active`` and ``in_stock`` booleans, ``price`` a float,
a field named like an entity a reference to it). A name that is a Python or SQL word
("class", "from", "order", "type") becomes a safe identifier (``class_``) and keeps the
word as its label.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass

from genflow.pipeline.language import singular
from genflow.pipeline.language_words import (
    AUXILIARIES,
    DETERMINERS,
    FLOAT_UNITS,
    INT_UNITS,
    MONEY_UNITS,
    OPTION_WORDS,
    PRONOUNS,
    Token,
    flat,
    join,
    number,
    split_list,
    split_text,
    tokenize,
)
from genflow.pipeline.spec import TYPE_WORDS, BadRequirements, FieldSpec, FieldType, snake

_STOP = """
a an the each every all any some and or of to with has have had is are be been
can could should must will would may might shall that which who where when why how
it its this these those they them their there we i you he she me us
something nothing anything everything not no also for from in on by as at so if
whether make add create remove delete rename give many belongs belong
"""
STOP_WORDS = frozenset(_STOP.split())  # never an entity's name, nor a whole field name
_INT_NAMES = {
    "year",
    "count",
    "age",
    "quantity",
    "number",
    "rank",
    "size",
    "pages",
    "stock",
    "floor",
    "nights",
    "capacity",
    "duration",
    "position",
    "seats",
    "servings",
    "calories",
    "minutes",
    "hours",
    "days",
    "votes",
    "likes",
    "attempts",
    "reps",
    "sets",
    "guests",
    "credits",
}
# Numbers of these names keep their fractions even when their bounds are whole.
_MEASURES = {"price", "cost", "amount", "balance", "salary", "fee", "total", "weight"}
_MEASURES |= {"budget", "distance", "height", "width", "depth", "length", "area", "volume"}
_FLOAT_NAMES = {"price", "amount", "rating", "score", "weight", "cost", "total", "height"}
_FLOAT_NAMES |= {"latitude", "longitude", "distance", "balance", "percentage", "salary", "fee"}
_FLOAT_NAMES |= {"width", "depth", "area", "volume", "temperature"}
_BOOL_NAMES = {"active", "done", "enabled", "completed", "archived", "published", "paid"}
_BOOL_NAMES |= {"verified", "approved", "visible", "available", "finished", "read"}
_BOOL_NAMES |= {"featured", "public", "private", "indoors", "outdoors", "vegetarian", "vegan"}
# Names a field cannot have in generated code: Python's keywords and builtins a model
# shadows, SQL's reserved words, and the record's own id.
_RESERVED = {*keyword.kwlist, *keyword.softkwlist, "id", "type", "self", "object", "list"}
_RESERVED |= {"order", "group", "select", "where", "table", "user", "limit", "offset", "key"}
_RESERVED |= {"desc", "asc", "column", "index", "values", "default", "check", "references"}
_KINDS = {"field", "fields", "column", "columns", "attribute", "attributes", "property"}
_KINDS |= {"properties"}
_TYPE_SUFFIX: dict[str, FieldType] = {
    "flag": "bool",
    "boolean": "bool",
    "bool": "bool",
    "timestamp": "datetime",
    "datetime": "datetime",
    "checkbox": "bool",
}
_BOUND_WORDS = ("from", "between", "at", "up", "min", "max", "minimum", "maximum", "no")
_MAX_NAME_WORDS = 6
# Plural field names that are counts or kinds of their own, not one value each.
_KEEP_PLURAL = _INT_NAMES | _FLOAT_NAMES | _BOOL_NAMES | {"notes", "details", "news", "tags"}
_KEEP_PLURAL |= {"ingredients", "instructions", "directions", "comments", "settings"}
_KEEP_PLURAL |= INT_UNITS | {"beds", "bedrooms", "bathrooms", "floors", "wins", "losses", "goals"}
_KEEP_PLURAL |= {"followers", "views", "clicks", "laps", "kids", "members", "players", "tickets"}
_NOT_NAMES = DETERMINERS | PRONOUNS | AUXILIARIES | {"and", "or", "not", "no", "with", "of"}
_BOUND_TOKENS = 6  # the longest bound: "not more than 5", "from -1 to 5"
_RANGE = ("to", "-", "\u2013", "..", "through", "and")

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


def split_items(text: str) -> list[str]:
    """A field list's items as text (see `split_list`)."""
    return split_text(text)


def option_words(text: str) -> list[str] | None:
    """``required and unique``, ``an integer``, ``one of low/high``, ``from 1 to 5``:
    the options, or None if a piece is no option (an entity name counts only written
    as one, ``a User``)."""
    options: list[str] = []
    lowered = text.lower().strip()
    if re.match(r"^(?:one of|either)\b", lowered):
        return [text.strip()]
    if _bounds(tokenize(text)) is not None:
        return [text.strip()]
    for piece in split_items(text):
        piece = re.sub(r"^(?:a|an|the)\s+", "", piece, flags=re.I).strip()
        low = piece.lower()
        if low in TYPE_WORDS or low in OPTION_WORDS or low == "not unique":
            options.append(OPTION_WORDS.get(low, low))
        elif low in ("not required", "no longer required"):
            options.append("optional")
        elif re.match(r"^(?:reference|link) to\s+(\w+)$", low):
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
    """The snake_case name a field phrase stands for: ``the due date field`` -> due_date,
    ``class`` -> class_."""
    words = [t for t in tokenize(phrase) if t.is_word or t.is_number]
    while words and words[0].low in DETERMINERS:
        words = words[1:]
    while len(words) > 1 and words[-1].low in _KINDS:
        words = words[:-1]
    return safe_name(snake(" ".join(t.text for t in words)))


def safe_name(name: str) -> str:
    """`name` as an identifier generated code can use: reserved words get a "_"."""
    if name and name[0].isdigit():
        name = "n_" + name
    return name + "_" if name in _RESERVED else name


def guess(name: str, entities: dict[str, str]) -> tuple[FieldType, str | None]:
    bare = name.rstrip("_")
    if bare in entities:
        return "ref", entities[bare]
    last = bare.rsplit("_", 1)[-1]
    if bare.endswith("_at") or (last in ("timestamp", "datetime", "time") and bare != "time"):
        return "datetime", None
    if last in ("date", "birthday", "deadline", "birthdate", "dob") or bare.endswith("_on"):
        return "date", None
    if bare.startswith("date_") or bare.endswith("_of_birth"):
        return "date", None
    first = bare.split("_", 1)[0]
    if first in ("is", "has", "in", "on", "can", "allows") and "_" in bare:
        return "bool", None
    if bare in _BOOL_NAMES:
        return "bool", None
    if bare in _INT_NAMES or bare.endswith("_count") or bare.startswith(("number_of_", "num_")):
        return "int", None
    if (last in _INT_NAMES and last != "number") or first == "year":
        return "int", None
    if bare in _FLOAT_NAMES or last in _MEASURES - {"length"}:
        return "float", None
    return "str", None


# -- the grammar of one item --------------------------------------------------------------


@dataclass
class _Item:
    name: list[Token]
    options: list[str]  # option words, types, entity names, "one of ..."
    choices: list[str]
    bounds: tuple[float | None, float | None] | None
    description: str | None
    label_tail: list[Token]  # a relative clause: kept in the label
    boolean: bool = False


def _bounds(tokens: list[Token]) -> tuple[float | None, float | None] | None:
    """The bounds a whole phrase states, or None if it states none or something else."""
    if len(tokens) > _BOUND_TOKENS + 3:
        return None  # a bound is a few words; a long phrase is something else
    words = [t for t in tokens if t.low not in ("(", ")")]
    lows = [t.low for t in words]
    nums = [number(t.text) for t in words]
    n = len(words)
    # "1-5" is read as 1 and -5: a number glued to the one before it.
    if n == 2 and nums[0] is not None and nums[1] is not None and words[1].text.startswith("-"):
        return _ordered(nums[0], -nums[1])
    if n == 3 and nums[0] is not None and nums[2] is not None and lows[1] in _RANGE:
        return _ordered(nums[0], nums[2])
    if (
        n == 4
        and nums[1] is not None
        and nums[3] is not None
        and (lows[0], lows[2]) in (("from", "to"), ("between", "and"), ("from", "-"))
    ):
        return _ordered(nums[1], nums[3])
    if n >= 2 and nums[-1] is not None and all(v is None for v in nums[:-1]):
        phrase = " ".join(lows[:-1])
        if phrase in ("at least", "min", "minimum", "no less than", "not less than", "from"):
            return nums[-1], None
        if phrase in ("at most", "max", "maximum", "up to", "no more than", "not more than"):
            return None, nums[-1]
        if phrase == "out of":
            return 0.0, nums[-1]  # "a rating out of 5"
        if phrase in ("over", "more than", "greater than", "above"):
            return nums[-1], None  # inclusive: close enough for a sample bound
    if lows in (["positive"], ["non-negative"], ["nonnegative"], ["not", "negative"]):
        return 0.0, None  # at least 0: "positive" is read as "not negative"
    return None


def _ordered(low: float, high: float) -> tuple[float, float]:
    return (low, high) if low <= high else (high, low)


def _bound_start(tokens: list[Token], index: int) -> bool:
    """Whether a bound starts at `tokens[index]` and takes the rest."""
    rest = tokens[index:]
    end = next((i for i, t in enumerate(rest[: _BOUND_TOKENS + 1]) if t.text == "("), len(rest))
    return end <= _BOUND_TOKENS and _bounds(rest[:end]) is not None


def _modifier_start(tokens: list[Token], index: int) -> bool:
    """Whether the name ends before `tokens[index]`: a modifier, a bound or a relative
    clause starts there."""
    token = tokens[index]
    low = token.low
    nxt = tokens[index + 1].low if index + 1 < len(tokens) else ""
    if token.depth > 0 or low in ("(", ":"):
        return True
    if low in ("as", "which", "who", "whose") or low in PRONOUNS - {"that"}:
        return True
    if low == "that":
        return True
    if low in AUXILIARIES and low not in ("has", "have", "had"):
        return True
    if low == "of" and (nxt == "type" or _bound_start(tokens, index + 1)):
        return True
    if (low == "one" and nxt == "of") or low == "either":
        return True
    if low in ("in", "per") and (nxt in INT_UNITS | FLOAT_UNITS | MONEY_UNITS):
        return True
    if token.is_number:
        rest = tokens[index + 1 :]
        return bool(rest) and (rest[0].text.startswith("-") or rest[0].low in ("to", "..", "-"))
    if low == "out" and nxt == "of":
        return _bound_start(tokens, index)
    if low in _BOUND_WORDS:
        # A bound is a few words: only a short rest is tried, so a long list stays linear.
        return _bound_start(tokens, index) or (low in ("from", "between") and nxt[:1].isdigit())
    return low in ("positive", "non-negative", "nonnegative") and index > 0


def _parse_item(tokens: list[Token], where: str, raw: str) -> _Item:
    item = _Item([], [], [], None, None, [])
    index = 0
    # determiners and option adjectives in front: "a required title", "an optional note"
    while index < len(tokens) and tokens[index].depth == 0:
        low = tokens[index].low
        if low in DETERMINERS or low == "new":
            index += 1
        elif low in OPTION_WORDS:
            item.options.append(OPTION_WORDS[low])
            index += 1
        else:
            break
    # a leading "in"/"on" is part of the name: "in stock", "on sale"
    start = index
    while index < len(tokens) and (index == start or not _modifier_start(tokens, index)):
        if tokens[index].depth > 0 or tokens[index].low in ("(", ":"):
            break
        index += 1
    item.name = tokens[start:index]
    # a trailing type word is the type: "a done flag", "a created at timestamp"
    while len(item.name) > 1 and item.name[-1].low in _TYPE_SUFFIX | {"text": "str"}:
        suffix = item.name[-1].low
        if suffix == "text" and len(item.name) < 2:
            break
        item.options.append({"text": "text"}.get(suffix, suffix))
        item.name = item.name[:-1]
    while len(item.name) > 1 and item.name[-1].low in _KINDS:
        item.name = item.name[:-1]
    _read_modifiers(item, tokens[index:], where, raw)
    return item


def _read_modifiers(item: _Item, tokens: list[Token], where: str, raw: str) -> None:
    """What follows the name: options in parentheses or after ":" / "as", bounds, units,
    "must be unique", or a relative clause kept as the label."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        low = token.low
        if low == "(":
            close = next(
                (j for j in range(index + 1, len(tokens)) if tokens[j].text == ")"), len(tokens)
            )
            _read_options(item, tokens[index + 1 : close], where, raw, in_parentheses=True)
            index = close + 1
            continue
        if low in (":", "as") or (
            low == "of" and index + 1 < len(tokens) and tokens[index + 1].low == "type"
        ):
            skip = 2 if low == "of" else 1
            _read_options(item, tokens[index + skip :], where, raw, in_parentheses=False)
            return
        if low in ("in", "per") and index + 1 < len(tokens):
            unit = tokens[index + 1].low
            said = f"{low} {tokens[index + 1].text}"
            item.description = f"{item.description}, {said}" if item.description else said
            if unit in MONEY_UNITS:
                item.options.append("decimal-unit")
            elif unit in FLOAT_UNITS:
                item.options.append("float-unit")
            elif unit in INT_UNITS and low == "in":
                item.options.append("int-unit")
            elif unit not in INT_UNITS:
                raise BadRequirements(f'{where}: cannot read field "{raw}"')
            index += 2
            continue
        if low == "of" and _bound_start(tokens, index + 1):
            index += 1
            continue
        rest = tokens[index:]
        # a bound runs up to options in parentheses: "between 0.5 and 2.5 (float)"
        end = next((i for i, t in enumerate(rest) if t.text == "("), len(rest))
        bounds = (
            (_bounds(rest[:end]) or _bounds(_strip_unit(rest[:end], item)))
            if end <= _BOUND_TOKENS + 1
            else None
        )
        if bounds is not None:
            item.bounds = bounds
            index += end
            continue
        if low in ("which", "that", "who", "and", ",") or low in AUXILIARIES:
            words = [t.low for t in rest]
            options = [OPTION_WORDS[w] for w in words if w in OPTION_WORDS]
            if options and all(
                w in OPTION_WORDS or w in AUXILIARIES or w in ("which", "that", "always", "be")
                for w in words
            ):
                item.options += options
                return
            if "one" in words and "of" in words:
                at = words.index("one")
                _read_options(item, rest[at:], where, raw, in_parentheses=False)
                return
        if low in PRONOUNS or low in ("which", "that", "who", "whose"):
            item.label_tail = rest  # "the team they play for": the name is "team"
            return
        raise BadRequirements(f'{where}: cannot read field "{raw}"')


def _strip_unit(tokens: list[Token], item: _Item) -> list[Token]:
    """`tokens` without a trailing unit ("from 1 to 5 stars"), noted as the description."""
    if len(tokens) > 2 and tokens[-1].low in INT_UNITS | FLOAT_UNITS | MONEY_UNITS:
        item.description = item.description or f"in {tokens[-1].text}"
        return tokens[:-1]
    return tokens


def _read_options(
    item: _Item, tokens: list[Token], where: str, raw: str, in_parentheses: bool
) -> None:
    """Options in parentheses or after ":"/"as": types, flags, bounds, an entity, or
    plain words that are the choices ("(draft, live, archived)")."""
    tokens = flat(tokens)
    text = join(tokens)
    if re.match(r"^(?:one of|either)\s", text, re.I):
        item.options.append(text)
        return
    for piece in split_list(tokens) if not _bounds(tokens) else [tokens]:
        piece_text = join(piece)
        low = re.sub(r"^(?:a|an|the)\s+", "", piece_text.lower()).strip()
        low = re.sub(r"^(?:(?:must|should|has to|needs to|will|always)\s+)?be\s+|^is\s+", "", low)
        bounds = _bounds(piece) or _bounds(_strip_unit(piece, item))
        if bounds is not None:
            item.bounds = bounds
        elif low in TYPE_WORDS or low in OPTION_WORDS or low in ("not unique", "repeatable"):
            item.options.append(OPTION_WORDS.get(low, low))
        elif low in ("not required", "can be empty", "may be empty", "nullable"):
            item.options.append("optional")
        elif low in ("required and unique", "unique and required"):
            item.options += ["required", "unique"]
        elif re.match(r"^(?:one of|either)\s", low):
            item.options.append(piece_text)
        elif low in INT_UNITS | FLOAT_UNITS | MONEY_UNITS and in_parentheses:
            _read_modifiers(item, [Token("in", 0), *piece], where, raw)
        elif re.match(r"^(?:in|per)\s", low) and in_parentheses:
            _read_modifiers(item, piece, where, raw)
        elif re.match(r"^(?:reference|link) to\s+(\w+)$", low):
            item.options.append(piece_text.split()[-1])
        elif re.match(r"^[A-Z][A-Za-z0-9]*$", piece_text):
            item.options.append(piece_text)  # an entity, or a choice
        elif re.fullmatch(r"[\w-]+(?: or [\w-]+)+", low):
            item.choices += re.split(r"\s+or\s+", piece_text)
        elif re.fullmatch(r"[\w-]+(?: [\w-]+){0,2}", low) and (in_parentheses or "/" not in text):
            item.choices.append(piece_text)
        elif "/" in low or "|" in low:
            item.choices += [c for c in re.split(r"\s*[/|]\s*", piece_text) if c]
        else:
            raise BadRequirements(
                f'{where}: unknown type or option "{piece_text}" for field "{raw}"; types: '
                f"{', '.join(sorted(TYPE_WORDS))}, an entity name, one of a/b/c or bounds "
                "(from 1 to 5); options: required, optional, unique"
            )


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
    item = _parse_item(tokens, where, raw)
    words = [t for t in item.name if t.is_word or t.is_number]
    name_text = " ".join(t.text for t in words)
    if plural and len(words) == 1 and item.name == tokens[: len(item.name)]:
        one = singular(name_text)
        if one.lower() != name_text.lower() and name_text.lower() not in _KEEP_PLURAL:
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
        _set_bounds(field, item.bounds, where, explicit_type=_typed(attrs))
    explicit = bool(attrs) or item.bounds is not None or bool(units) or boolean
    return ReadField(field, explicit=explicit)


def _typed(attrs: list[str]) -> bool:
    return any(a.lower() in TYPE_WORDS for a in attrs)


def _set_bounds(
    field: FieldSpec, bounds: tuple[float | None, float | None], where: str, explicit_type: bool
) -> None:
    low, high = bounds
    whole = all(v is None or float(v).is_integer() for v in bounds)
    if field.type not in ("int", "float", "decimal") or not explicit_type:
        if field.type not in ("int", "float", "decimal", "str", "ref"):
            raise BadRequirements(f'{where}: field "{field.name}" is a {field.type}, not a number')
        measure = field.name.rstrip("_").rsplit("_", 1)[-1] in _MEASURES
        if field.type in ("str", "ref") or not (explicit_type or measure):
            field.type, field.ref = ("int" if whole else "float"), None
            if field.type == "float" and field.description and "euro" in field.description:
                field.type = "decimal"
    if field.type == "int":
        low = None if low is None else float(math.ceil(low))
        high = None if high is None else float(math.floor(high))
    # A bound said alone keeps the other one: "make nights at most 14".
    field.minimum = low if low is not None else field.minimum
    field.maximum = high if high is not None else field.maximum


def apply_options(field: FieldSpec, attrs: list[str], where: str, entities: dict[str, str]) -> None:
    """Set `field`'s type and flags from option words; unmentioned flags stay."""
    uniqueness: set[bool] = set()
    for attr in attrs:
        lowered = attr.lower().strip()
        lowered = re.sub(r"^(?:a|an|the|its|their)\s+", "", lowered)
        choice = re.match(r"^(?:one of|either)\s+(.+)$", lowered)
        bounds = _bounds(tokenize(lowered))
        if lowered in TYPE_WORDS:
            field.type, field.ref, field.choices = TYPE_WORDS[lowered], None, []
            if field.type not in ("int", "float", "decimal"):
                field.minimum = field.maximum = None
        elif snake(lowered) in entities:
            field.type, field.ref, field.choices = "ref", entities[snake(lowered)], []
        elif choice:
            options = [
                snake(o)
                for o in re.split(r"\s*/\s*|\s*\|\s*|\s*,\s*|\s+or\s+|\s+and\s+", choice[1])
                if o.strip()
            ]
            options = [("n_" + o if o[:1].isdigit() else o) for o in options]
            if len(options) < 2 or not all(o.isidentifier() for o in options):
                raise BadRequirements(f'{where}: "{attr}" needs at least two simple choices')
            field.type, field.choices, field.ref = "enum", list(dict.fromkeys(options)), None
        elif bounds is not None:
            _set_bounds(field, bounds, where, explicit_type=field.type in ("float", "decimal"))
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
