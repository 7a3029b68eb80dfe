"""Field types the request models share: clean text, bounded JSON, moments; and the
example a request model shows in the OpenAPI document."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field


def clean_text(value: str) -> str:
    """Refuse what no database can store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError("must be valid Unicode text") from err
    return value


def _clean_json(value: Any) -> None:
    if isinstance(value, str):
        clean_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            clean_text(key)
            _clean_json(item)
    elif isinstance(value, list):
        for item in value:
            _clean_json(item)


def json_at_most(limit: int) -> AfterValidator:
    def check(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        _clean_json(value)
        if len(json.dumps(value).encode()) > limit:
            raise ValueError(f"must serialize to at most {limit // 1024} KiB of JSON")
        return value

    return AfterValidator(check)


# The pattern tells clients (and the fuzzer) what clean_text refuses: NUL, which no
# database text column can store.
Text = Annotated[
    str, AfterValidator(clean_text), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]


def _not_a_number(value: Any) -> Any:
    """A moment is ISO 8601 text: pydantic alone would also read "0.5" as Unix time."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be an ISO 8601 date-time, such as 2025-01-31T12:00:00Z")
    return value


Moment = Annotated[datetime, BeforeValidator(_not_a_number)]
TimeoutSeconds = Annotated[
    float | None,
    Field(
        strict=True,  # a number, not true (pydantic would read it as 1)
        gt=0,
        le=30 * 24 * 3600,
        description="Deadline from the start; past it the generation fails with "
        "`deadline_exceeded` (default: the server's setting)",
    ),
]
Tag = Annotated[Text, Field(min_length=1, max_length=64)]


def example(body: dict[str, Any]) -> dict[str, Any]:
    """An example body for the OpenAPI document (the fuzzer's examples phase sends it)."""
    return {"examples": [body]}
