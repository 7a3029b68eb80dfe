"""The builtin requirements language, part 3d: a field's bounds.

Bounds are said in a few words ("from 1 to 5", "between 0.5 and 2.5", "1-5", "at least
0", "up to 14", "out of 5", "positive"; the grammar is in
`genflow.pipeline.language.items`). A field with bounds is a number: whole bounds make
it an integer unless its type was said or its name is a measure ("price").
"""

from __future__ import annotations

import math

from genflow.pipeline.language.field_names import MEASURES
from genflow.pipeline.language.tokens import Token, number
from genflow.pipeline.spec import BadRequirements, FieldSpec

BOUND_WORDS = ("from", "between", "at", "up", "min", "max", "minimum", "maximum", "no")
BOUND_TOKENS = 6  # the longest bound: "not more than 5", "from -1 to 5"
_RANGE = ("to", "-", "\u2013", "..", "through", "and")


def read_bounds(tokens: list[Token]) -> tuple[float | None, float | None] | None:
    """The bounds a whole phrase states, or None if it states none or something else."""
    if len(tokens) > BOUND_TOKENS + 3:
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


def bound_start(tokens: list[Token], index: int) -> bool:
    """Whether a bound starts at `tokens[index]` and takes the rest."""
    rest = tokens[index:]
    end = next((i for i, t in enumerate(rest[: BOUND_TOKENS + 1]) if t.text == "("), len(rest))
    return end <= BOUND_TOKENS and read_bounds(rest[:end]) is not None


def set_bounds(
    field: FieldSpec, bounds: tuple[float | None, float | None], where: str, explicit_type: bool
) -> None:
    """Set `field`'s bounds (an integer's rounded inward); a field whose type was not
    said becomes a number. BadRequirements if the field cannot be a number."""
    low, high = bounds
    whole = all(v is None or float(v).is_integer() for v in bounds)
    if field.type not in ("int", "float", "decimal") or not explicit_type:
        if field.type not in ("int", "float", "decimal", "str", "ref"):
            raise BadRequirements(f'{where}: field "{field.name}" is a {field.type}, not a number')
        measure = field.name.rstrip("_").rsplit("_", 1)[-1] in MEASURES
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
