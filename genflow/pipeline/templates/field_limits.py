"""What a field of the templates' view model accepts: its type and bounds, and the
values it refuses whatever its bounds, which the generated tests try."""

from __future__ import annotations

from genflow.pipeline.spec import FieldSpec
from genflow.pipeline.templates.bounds import Bounds, Form


class FieldLimits:
    """The limits of the spec field `spec` (a base of views.Field)."""

    spec: FieldSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def required(self) -> bool:
        return self.spec.required

    @property
    def is_email(self) -> bool:
        """A text field that holds an email address (by its name): validated, and
        lower-cased so that unique addresses compare as people expect."""
        return self.type == "str" and "email" in self.name.lower()

    @property
    def bounds(self) -> Bounds | None:
        """The field's minimum and maximum, if it is a number that has either."""
        return Bounds.of(self.spec)

    @property
    def bounded(self) -> bool:
        """Whether the field is a number with a minimum or a maximum."""
        return self.bounds is not None

    @property
    def big_int(self) -> bool:
        """An integer whose bounds reach past a 32-bit INTEGER column: stored in a
        BIGINT one instead."""
        if self.type != "int" or self.bounds is None:
            return False
        edges = [v for v in (self.bounds.low, self.bounds.high) if v is not None]
        return any(not -(2**31) <= v <= 2**31 - 1 for v in edges)

    @property
    def bounds_text(self) -> str:
        """The bounds in words: "1 to 5", "at least 0", "at most 500"; "" for none."""
        return self.bounds.text if self.bounds else ""

    def outside(self, form: Form = "py") -> list[str]:
        """Values just outside the bounds (see `Bounds.outside`)."""
        return self.bounds.outside(form) if self.bounds else []

    def edges(self, form: Form = "py") -> list[str]:
        """The bounds themselves, both allowed."""
        return self.bounds.edges(form) if self.bounds else []

    @property
    def int_limits(self) -> tuple[str, str]:
        """The smallest and largest value of an integer field, as the python-library and
        cli-tool modules spell them: its bounds where the spec sets them, else the 64-bit
        limits (the names INT_MIN and INT_MAX those modules define)."""
        low = self.bounds.low if self.bounds else None
        high = self.bounds.high if self.bounds else None
        return (
            "INT_MIN" if low is None else str(int(low)),
            "INT_MAX" if high is None else str(int(high)),
        )

    def unfit(self, form: Form = "py") -> list[str]:
        """Values the field refuses whatever its bounds, as expressions of `form` ("py" or
        "text"): blank required text, text with a NUL or a lone surrogate, addresses that
        are no email, integers past 64 bits on a side the spec leaves open, and floats or
        decimals that are no finite number."""
        values: list[str] = []
        if self.type == "str":
            values += ['""', '"   "'] if self.required else []
            values += ['"a\\x00b"', '"a\\ud800b"']
            values += ['"not-an-email"', '"a@b"', '"a b@example.com"'] if self.is_email else []
        elif self.type == "int":
            low, high = self.int_limits
            numbers = ["2**63", "10**30"] if high == "INT_MAX" else []
            numbers += ["-(2**63) - 1"] if low == "INT_MIN" else []
            values += [f"str({n})" for n in numbers] if form == "text" else numbers
        elif self.type == "float":
            values += ['"nan"', '"inf"'] if form == "text" else ['float("nan")', 'float("-inf")']
        elif self.type == "decimal" and form == "text":
            values += ['"NaN"', '"Infinity"']
        elif self.type == "decimal":
            values += ['Decimal("NaN")', 'Decimal("sNaN")', 'Decimal("-Infinity")']
        return values
