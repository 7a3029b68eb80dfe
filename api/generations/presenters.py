"""How the routes answer with generations: a page of them serialized once, and the
answer of a request that started one (one generation is `resource.present`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response
from pydantic import BaseModel

from genflow.db.models import Generation
from genflow.settings import Settings

from ..deps import SettingsDep, built_inline
from .queries import Listed
from .resource import GenerationOut, GenerationPage, present
from .waiting import PREFERENCE_APPLIED, WaitDep

# The headers of an answer that started a generation, as the OpenAPI document shows them.
STARTED = {
    "headers": {
        "Location": {
            "description": "The new generation's `urls.self`",
            "schema": {"type": "string"},
        },
        **PREFERENCE_APPLIED,
    }
}


def as_json(model: BaseModel) -> Response:
    """Serialize a response model once (FastAPI would validate it again first)."""
    return Response(model.model_dump_json(), media_type="application/json")


def page(listed: Listed, settings: Settings) -> Response:
    """A page of generations, serialized once."""
    return as_json(
        GenerationPage(
            items=[
                present(row, settings, listed.stages[row.id], listed.artifacts[row.id])
                for row in listed.rows
            ],
            next_cursor=listed.next_cursor.encode() if listed.next_cursor else None,
        )
    )


class StartedAnswer:
    """The answer of a route that starts a generation (create, iterate, retry): the
    generation after the wait the client asked for, with `Location` and
    `Preference-Applied`."""

    def __init__(self, settings: SettingsDep, wait: WaitDep, response: Response) -> None:
        self._settings = settings
        self._wait = wait
        self._response = response

    async def __call__(self, row: Generation) -> GenerationOut:
        out = present(await self._wait.settle(row), self._settings)
        self._response.headers["Location"] = out.urls.self
        self._wait.apply(self._response)
        return out


StartedDep = Annotated[StartedAnswer, Depends(built_inline(StartedAnswer))]
