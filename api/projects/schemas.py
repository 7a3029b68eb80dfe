"""A project as clients create it and see it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ..schemas import Text, example


class ProjectCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=example({"name": "Library", "description": "The library services"}),
    )

    name: Text = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=5000)


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    urls: dict[str, str]


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None
