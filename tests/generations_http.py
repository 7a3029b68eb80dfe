"""Helpers of the tests of the generation endpoints: a POST under /v1/generations, and a
start (create, iterate or retry) that waits until the generation has ended or awaits
approval."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Stack

# A prompt the builtin requirements language cannot read: the generation fails fast.
UNREADABLE = "Nothing to see."


WAIT = {"Prefer": "wait=60"}


async def post(
    stack: Stack, path: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return await stack.http.post(
        f"/v1/generations{path}", json=body, headers={**stack.auth(), **headers}
    )


async def started(stack: Stack, path: str = "", **body: Any) -> dict[str, Any]:
    """POST a create (or an iterate/retry `path`) that waits until the generation has
    ended or awaits approval."""
    response = await post(stack, path, {"prompt": body.pop("prompt", UNREADABLE), **body}, **WAIT)
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=60"
    generation: dict[str, Any] = response.json()
    return generation
