"""The sample values the generated tests write for a field: valid ones for sample record
`n` as Python, JSON and command-line expressions, and values of the wrong type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genflow.pipeline.templates.field_limits import FieldLimits

if TYPE_CHECKING:  # views imports this module: Entity is named for the type checker only
    from genflow.pipeline.templates.views import Entity

# The day of sample record `n` (year, month, day; 28 days a month): 2024-01-01 for n = 1,
# a valid and distinct date for every n. Records that a sample refers to are numbered
# from the test module's SAMPLES counter (1001 on), past the 31 days of one month.
_DAY_OF_N = "2024 + (n - 1) // 336, (n - 1) // 28 % 12 + 1, (n - 1) % 28 + 1"
_ISO_DAY_OF_N = "{2024 + (n - 1) // 336}-{(n - 1) // 28 % 12 + 1:02d}-{(n - 1) % 28 + 1:02d}"


class SampleValues(FieldLimits):
    """The sample values of a field (a base of views.Field): an enum's are picked from
    its class `enum_cls`, a reference's are records of `target` made for the sample."""

    enum_cls: str
    target: Entity | None

    def py(self) -> str:
        """A valid Python value for sample record `n` (a name in the test module)."""
        if self.bounds:
            return self.bounds.sample("py")
        if self.is_email:
            return f'f"{self.name}-{{n}}@example.com"'
        return {
            "str": f'f"{self.name}-{{n}}"',
            "int": "n",
            "float": "n + 0.5",
            "decimal": 'Decimal(f"{n}.25")',
            "bool": "n % 2 == 1",
            "date": f"_dt.date({_DAY_OF_N})",
            "datetime": f"_dt.datetime({_DAY_OF_N}, 12, 30)",
            "enum": self.enum_pick(),
            "ref": f"add_{self.target_var}(store, next(SAMPLES)).id",
        }[self.type]

    def json(self) -> str:
        """A valid JSON value for sample record `n`, as a Python expression."""
        if self.bounds:
            return self.bounds.sample("json")
        return {
            "decimal": 'f"{n}.25"',
            "date": f'f"{_ISO_DAY_OF_N}"',
            "datetime": f'f"{_ISO_DAY_OF_N}T12:30:00"',
            "enum": self.enum_pick() + ".value",
            "ref": f'create_{self.target_var}(client, next(SAMPLES))["id"]',
        }.get(self.type) or self.py()

    def text(self) -> str:
        """A valid command-line value for sample record `n`, as a Python expression
        (booleans are flags: True or False)."""
        if self.bounds:
            return self.bounds.sample("text")
        return {
            "int": "str(n)",
            "float": 'f"{n}.5"',
            "ref": f'str(add_{self.target_var}(db, next(SAMPLES))["id"])',
        }.get(self.type) or self.json()

    def enum_pick(self) -> str:
        return f"list({self.enum_cls})[(n - 1) % len({self.enum_cls})]"

    @property
    def target_var(self) -> str:
        return self.target.var if self.target else ""

    def wrong_py(self) -> str:
        """A Python value of the wrong type."""
        return {
            "str": "12345",
            "int": '"12"',
            "float": '"1.5"',
            "decimal": '"1.25"',
            "bool": '"yes"',
            "date": "_dt.datetime(2024, 1, 1, 12, 30)",
            "datetime": "_dt.date(2024, 1, 1)",
            "enum": "12345",
            "ref": '"1"',
        }[self.type]

    def wrong_json(self) -> str:
        """A JSON value of the wrong type, as a Python expression."""
        return {
            "str": "12345",
            "int": '"twelve"',
            "float": '"one and a half"',
            "decimal": '"a lot"',
            "bool": '"maybe"',
            "date": '"2024-13-45"',
            "datetime": '"yesterday"',
            "enum": '"not_a_choice"',
            "ref": '"first"',
        }[self.type]
