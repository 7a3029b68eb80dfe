"""The builtin requirements language, part 3b: the grammar of a field list, over the
tagged tokens of `genflow.pipeline.language.tokens`.

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

`parse_item` reads one item into its name, option words, choices, bounds and
description; `genflow.pipeline.language.fields` makes a field of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genflow.pipeline.language.bounds import (
    BOUND_TOKENS,
    BOUND_WORDS,
    bound_start,
    read_bounds,
)
from genflow.pipeline.language.field_names import KINDS
from genflow.pipeline.language.tokens import Token, flat, join, split_list, split_text
from genflow.pipeline.language.words import (
    AUXILIARIES,
    DETERMINERS,
    FLOAT_UNITS,
    INT_UNITS,
    MONEY_UNITS,
    OPTION_WORDS,
    PRONOUNS,
)
from genflow.pipeline.spec import TYPE_WORDS, BadRequirements, FieldType


def split_items(text: str) -> list[str]:
    """A field list's items as text (see `split_list`)."""
    return split_text(text)


# -- the grammar of one item --------------------------------------------------------------

_TYPE_SUFFIX: dict[str, FieldType] = {
    "flag": "bool",
    "boolean": "bool",
    "bool": "bool",
    "timestamp": "datetime",
    "datetime": "datetime",
    "checkbox": "bool",
}


@dataclass
class Item:
    """One field item as read: the tokens of its name and what is said of it."""

    name: list[Token]
    options: list[str]  # option words, types, entity names, "one of ..."
    choices: list[str]
    bounds: tuple[float | None, float | None] | None
    description: str | None
    label_tail: list[Token]  # a relative clause: kept in the label
    boolean: bool = False


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
    if low == "of" and (nxt == "type" or bound_start(tokens, index + 1)):
        return True
    if (low == "one" and nxt == "of") or low == "either":
        return True
    if low in ("in", "per") and (nxt in INT_UNITS | FLOAT_UNITS | MONEY_UNITS):
        return True
    if token.is_number:
        rest = tokens[index + 1 :]
        return bool(rest) and (rest[0].text.startswith("-") or rest[0].low in ("to", "..", "-"))
    if low == "out" and nxt == "of":
        return bound_start(tokens, index)
    if low in BOUND_WORDS:
        # A bound is a few words: only a short rest is tried, so a long list stays linear.
        return bound_start(tokens, index) or (low in ("from", "between") and nxt[:1].isdigit())
    return low in ("positive", "non-negative", "nonnegative") and index > 0


def parse_item(tokens: list[Token], where: str, raw: str) -> Item:
    """One item read by the grammar above; BadRequirements (naming `where` and quoting
    `raw`) if a part of it cannot be read."""
    item = Item([], [], [], None, None, [])
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
    while len(item.name) > 1 and item.name[-1].low in KINDS:
        item.name = item.name[:-1]
    _read_modifiers(item, tokens[index:], where, raw)
    return item


def _read_modifiers(item: Item, tokens: list[Token], where: str, raw: str) -> None:
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
        if low == "of" and bound_start(tokens, index + 1):
            index += 1
            continue
        rest = tokens[index:]
        # a bound runs up to options in parentheses: "between 0.5 and 2.5 (float)"
        end = next((i for i, t in enumerate(rest) if t.text == "("), len(rest))
        bounds = (
            (read_bounds(rest[:end]) or read_bounds(_strip_unit(rest[:end], item)))
            if end <= BOUND_TOKENS + 1
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


def _strip_unit(tokens: list[Token], item: Item) -> list[Token]:
    """`tokens` without a trailing unit ("from 1 to 5 stars"), noted as the description."""
    if len(tokens) > 2 and tokens[-1].low in INT_UNITS | FLOAT_UNITS | MONEY_UNITS:
        item.description = item.description or f"in {tokens[-1].text}"
        return tokens[:-1]
    return tokens


def _read_options(
    item: Item, tokens: list[Token], where: str, raw: str, in_parentheses: bool
) -> None:
    """Options in parentheses or after ":"/"as": types, flags, bounds, an entity, or
    plain words that are the choices ("(draft, live, archived)")."""
    tokens = flat(tokens)
    text = join(tokens)
    if re.match(r"^(?:one of|either)\s", text, re.I):
        item.options.append(text)
        return
    for piece in split_list(tokens) if not read_bounds(tokens) else [tokens]:
        piece_text = join(piece)
        low = re.sub(r"^(?:a|an|the)\s+", "", piece_text.lower()).strip()
        low = re.sub(r"^(?:(?:must|should|has to|needs to|will|always)\s+)?be\s+|^is\s+", "", low)
        bounds = read_bounds(piece) or read_bounds(_strip_unit(piece, item))
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
