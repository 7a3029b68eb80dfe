"""The numbers of a bounded field as generated code and tests spell them: the bounds as
literals of the field's type, sample values inside them, values just outside them and
the bounds themselves.

Values come in three forms, each a Python expression in the generated tests: "py" (the
value itself: an int, a float or a Decimal), "json" (what a JSON body carries; decimals are
strings) and "text" (a command-line argument, a string). Sample values are expressions in
`n`, the number of the sample record, and stay distinct for n = 1, 2, 3 whenever the range
holds that many values (an integer range 1..5, not 2..2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from genflow.pipeline.spec import FieldSpec

Form = Literal["py", "json", "text"]
NUMBER_TYPES = ("int", "float", "decimal")
_CENT = Decimal("0.01")


def _short(value: float) -> str:
    """A number as short text: 5 for 5.0, 2.5 for 2.5, 1000000000000 for 1e12."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _number(value: int | Decimal) -> str:
    """An int or a Decimal as a plain Python literal: 100 for Decimal("1E+2")."""
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


def _plus(expression: str, number: int | Decimal) -> str:
    """`expression + number` written plainly: "n", "n + 4", "n - 6"."""
    if number == 0:
        return expression
    return (
        f"{expression} + {_number(number)}" if number > 0 else f"{expression} - {_number(-number)}"
    )


def _minus_n(number: int | Decimal) -> str:
    """`number - n` written plainly: "501 - n", "-n", "-2 - n"."""
    return "-n" if number == 0 else f"{_number(number)} - n"


@dataclass(frozen=True)
class Bounds:
    """The inclusive bounds of an int, float or decimal field (either may be None).

    An integer field's bounds are whole numbers (a minimum of 1.5 allows 2 and up);
    a decimal field's are exact Decimals of the spec's numbers (0.1 is 0.1).
    """

    type: str
    low: int | float | Decimal | None
    high: int | float | Decimal | None

    @classmethod
    def of(cls, spec: FieldSpec) -> Bounds | None:
        """The bounds of `spec`, or None for a field that has none (or is no number)."""
        if spec.type not in NUMBER_TYPES:
            return None
        low, high = (
            v if v is not None and math.isfinite(v) else None for v in (spec.minimum, spec.maximum)
        )
        if low is None and high is None:
            return None
        if spec.type == "int":
            return cls(
                "int",
                math.ceil(low) if low is not None else None,
                math.floor(high) if high is not None else None,
            )
        if spec.type == "decimal":
            return cls(
                "decimal",
                Decimal(_short(low)) if low is not None else None,
                Decimal(_short(high)) if high is not None else None,
            )
        return cls("float", low, high)

    def literal(self, value: int | float | Decimal | None, form: Form = "py") -> str:
        """`value` as an expression of `form` ("None" for no bound)."""
        if value is None:
            return "None"
        if self.type == "decimal":
            text = f'"{Decimal(value):f}"'
            return f"Decimal({text})" if form == "py" else text
        number = str(int(value)) if self.type == "int" else repr(float(value))
        return f'"{number}"' if form == "text" else number

    @property
    def low_literal(self) -> str:
        return self.literal(self.low)

    @property
    def high_literal(self) -> str:
        return self.literal(self.high)

    @property
    def text(self) -> str:
        """The bounds in words: "1 to 5", "at least 0", "at most 500"."""
        low = None if self.low is None else _short(float(self.low))
        high = None if self.high is None else _short(float(self.high))
        if low is not None and high is not None:
            return f"{low} to {high}"
        return f"at least {low}" if low is not None else f"at most {high}"

    def edges(self, form: Form) -> list[str]:
        """The bounds themselves, both allowed."""
        return [self.literal(v, form) for v in (self.low, self.high) if v is not None]

    def outside(self, form: Form) -> list[str]:
        """The values just below the minimum and just above the maximum: one less and
        one more for an integer, one cent for a decimal, the next float for a float."""
        values: list[int | float | Decimal] = []
        if self.low is not None:
            values.append(self._step(self.low, -1))
        if self.high is not None:
            values.append(self._step(self.high, +1))
        return [self.literal(v, form) for v in values]

    def _step(self, value: int | float | Decimal, direction: int) -> int | float | Decimal:
        if self.type == "int":
            return int(value) + direction
        if self.type == "decimal":
            return Decimal(value) + direction * _CENT
        return math.nextafter(float(value), direction * math.inf)

    def sample(self, form: Form) -> str:
        """A value inside the bounds for sample record `n`, distinct for n = 1, 2, 3
        when the range allows it."""
        if self.type == "decimal":
            text = self._decimal_sample()
            return f"Decimal({text})" if form == "py" else text
        number = self._int_sample() if self.type == "int" else self._float_sample()
        return f"str({number})" if form == "text" else number

    def _int_sample(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None:
            span = int(high) - int(low) + 1
            if span <= 1:
                return str(low)
            cycle = f"(n - 1) % {span}"
            return cycle if low == 0 else f"{low} + {cycle}"
        if low is not None:
            return _plus("n", int(low) - 1)
        assert high is not None
        return _minus_n(int(high) + 1)

    def _float_sample(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None:
            span = float(high) - float(low)
            if span <= 0:
                return repr(float(low))
            # n = 1 is the middle of the range, later samples approach the minimum.
            part = f"{span!r} / (n + 1)"
            return part if low == 0 else f"{float(low)!r} + {part}"
        if low is not None:
            return f"{float(low)!r} + n"
        assert high is not None
        return f"{float(high)!r} - n"

    def _decimal_sample(self) -> str:
        """A JSON decimal: a string with two decimal places, as the stored Numeric(30, 2)
        gives it back."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            low_cents = int((Decimal(low) * 100).to_integral_value(ROUND_CEILING))
            high_cents = int((Decimal(high) * 100).to_integral_value(ROUND_FLOOR))
            if high_cents < low_cents:  # no whole cent inside: the minimum itself
                return self.literal(low, "json")
            if high_cents == low_cents:
                return f'"{Decimal(low_cents) / 100:.2f}"'
            cents = f"(n - 1) % {high_cents - low_cents + 1}"
            cents = cents if low_cents == 0 else f"{low_cents} + {cents}"
            return f'f"{{({cents}) / 100:.2f}}"'
        if low is not None:
            return f'f"{{{_plus("n", _up_to_cents(low, ROUND_CEILING))}:.2f}}"'
        assert high is not None
        return f'f"{{{_minus_n(_up_to_cents(high, ROUND_FLOOR))}:.2f}}"'


def _up_to_cents(value: int | float | Decimal, rounding: str) -> Decimal:
    """`value` rounded to whole cents (up for a minimum, down for a maximum)."""
    return Decimal(value).quantize(_CENT, rounding=rounding)
