"""The custom search attributes operators filter generations by in the Temporal Web UI,
shared by the workflow, the API and `genflow up` (which registers them)."""

from typing import Any

from temporalio.common import SearchAttributeKey

GENERATION_STATUS = SearchAttributeKey.for_keyword("GenerationStatus")
GENERATION_STAGE = SearchAttributeKey.for_keyword("GenerationStage")
USER_ID = SearchAttributeKey.for_keyword("UserId")
PROJECT_ID = SearchAttributeKey.for_keyword("ProjectId")
QUALITY_SCORE = SearchAttributeKey.for_float("QualityScore")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    GENERATION_STATUS,
    GENERATION_STAGE,
    USER_ID,
    PROJECT_ID,
    QUALITY_SCORE,
)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    kinds = {"KEYWORD": "Keyword", "DOUBLE": "Double"}
    return [
        arg
        for key in ALL
        for arg in ("--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}")
    ]
