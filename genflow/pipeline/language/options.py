"""The builtin requirements language, part 3e: a field's options.

Options are what is said of a field besides its name: a type, an entity it refers to,
"required", "optional", "unique" or "not unique", "one of a/b/c", bounds. `option_words`
reads them from a change ("make the title of Book required and unique"); `apply_options`
sets them on a field, and flags they do not mention stay as they were.
"""

from __future__ import annotations

import re

from genflow.pipeline.language.bounds import read_bounds, set_bounds
from genflow.pipeline.language.items import split_items
from genflow.pipeline.language.tokens import tokenize
from genflow.pipeline.language.words import OPTION_WORDS
from genflow.pipeline.spec import TYPE_WORDS, BadRequirements, FieldSpec, snake


def option_words(text: str) -> list[str] | None:
    """``required and unique``, ``an integer``, ``one of low/high``, ``from 1 to 5``:
    the options, or None if a piece is no option (an entity name counts only written
    as one, ``a User``)."""
    options: list[str] = []
    lowered = text.lower().strip()
    if re.match(r"^(?:one of|either)\b", lowered):
        return [text.strip()]
    if read_bounds(tokenize(text)) is not None:
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


def apply_options(field: FieldSpec, attrs: list[str], where: str, entities: dict[str, str]) -> None:
    """Set `field`'s type and flags from option words; unmentioned flags stay."""
    uniqueness: set[bool] = set()
    for attr in attrs:
        lowered = attr.lower().strip()
        lowered = re.sub(r"^(?:a|an|the|its|their)\s+", "", lowered)
        choice = re.match(r"^(?:one of|either)\s+(.+)$", lowered)
        bounds = read_bounds(tokenize(lowered))
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
            set_bounds(field, bounds, where, explicit_type=field.type in ("float", "decimal"))
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
