"""The builtin requirements language, part 3c: field names, and the types they suggest.

A field without a type gets one from its name (``email`` is text, ``year`` an integer,
``due_date`` a date, ``created_at`` a datetime, ``is_active`` and ``in_stock`` booleans,
``price`` a float, a field named like an entity a reference to it). A name that is a
Python or SQL word ("class", "from", "order", "type") becomes a safe identifier
(``class_``) and keeps the word as its label.
"""

from __future__ import annotations

import keyword

from genflow.pipeline.language.tokens import tokenize
from genflow.pipeline.language.words import DETERMINERS, INT_UNITS
from genflow.pipeline.spec import FieldType, snake

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
MEASURES = {"price", "cost", "amount", "balance", "salary", "fee", "total", "weight"}
MEASURES |= {"budget", "distance", "height", "width", "depth", "length", "area", "volume"}
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
KINDS = {"field", "fields", "column", "columns", "attribute", "attributes", "property"}
KINDS |= {"properties"}
# Plural field names that are counts or kinds of their own, not one value each.
KEEP_PLURAL = _INT_NAMES | _FLOAT_NAMES | _BOOL_NAMES | {"notes", "details", "news", "tags"}
KEEP_PLURAL |= {"ingredients", "instructions", "directions", "comments", "settings"}
KEEP_PLURAL |= INT_UNITS | {"beds", "bedrooms", "bathrooms", "floors", "wins", "losses", "goals"}
KEEP_PLURAL |= {"followers", "views", "clicks", "laps", "kids", "members", "players", "tickets"}


def field_name(phrase: str) -> str:
    """The snake_case name a field phrase stands for: ``the due date field`` -> due_date,
    ``class`` -> class_."""
    words = [t for t in tokenize(phrase) if t.is_word or t.is_number]
    while words and words[0].low in DETERMINERS:
        words = words[1:]
    while len(words) > 1 and words[-1].low in KINDS:
        words = words[:-1]
    return safe_name(snake(" ".join(t.text for t in words)))


def safe_name(name: str) -> str:
    """`name` as an identifier generated code can use: reserved words get a "_"."""
    if name and name[0].isdigit():
        name = "n_" + name
    return name + "_" if name in _RESERVED else name


def guess(name: str, entities: dict[str, str]) -> tuple[FieldType, str | None]:
    """The type a field named `name` has when none is said, and the entity it refers to."""
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
    if bare in _FLOAT_NAMES or last in MEASURES - {"length"}:
        return "float", None
    return "str", None
