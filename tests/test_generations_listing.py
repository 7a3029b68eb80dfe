"""The generation lists (api/generations/queries.py, genflow/db/listing.py): every filter and
keyset paging, on rows seeded in bulk."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from genflow.db.models import Generation
from tests.conftest import Stack


def row(user: str, created_at: datetime, **values: Any) -> dict[str, Any]:
    generation_id = uuid.uuid4()
    return {
        "id": generation_id,
        "user_id": user,
        "prompt": "Book has title.",
        "provider": "builtin",
        "status": "completed",
        "title": None,
        "project_id": None,
        "quality_score": None,
        "progress": 100,
        "iteration": 0,
        "variables": {},
        "tags": [],
        "meta": {},
        "metrics": {},
        "workflow_id": f"gen-{generation_id}",
        "last_event_id": 0,
        "created_at": created_at,
        "updated_at": created_at,
        **values,
    }


async def seed(stack: Stack, rows: list[dict[str, Any]]) -> None:
    async with stack.engine.begin() as connection:
        for start in range(0, len(rows), 500):
            await connection.execute(insert(Generation), rows[start : start + 500])


async def ids(stack: Stack, user: str, **params: Any) -> list[str]:
    response = await stack.http.get(
        "/v1/generations", params={"limit": 100, **params}, headers=stack.auth(user)
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_each_filter_selects_exactly_its_rows(stack: Stack) -> None:
    user = f"filters-{uuid.uuid4()}"
    now = datetime.now(UTC).replace(microsecond=0)
    project = str(uuid.uuid4())
    rows = [
        row(user, now - timedelta(days=10), title="Old shop", quality_score=95.0, tags=["shop"]),
        row(user, now - timedelta(days=5), title="Library", quality_score=40.0, project_id=project),
        row(
            user,
            now - timedelta(days=1),
            status="failed",
            prompt="Cat has 100% fur_coat.",
            tags=["pets", "shop"],
        ),
        row(user, now, status="processing", title="New shop", tags=["x"]),
        row(f"{user}-other", now, title="Library", quality_score=99.0, tags=["shop"]),
    ]
    await seed(stack, rows)
    old, library, cat, new, _ = (str(r["id"]) for r in rows)

    assert await ids(stack, user) == [new, cat, library, old]
    assert await ids(stack, user, status="failed") == [cat]
    assert await ids(stack, user, status=["failed", "processing"]) == [new, cat]
    assert await ids(stack, user, project_id=project) == [library]
    assert await ids(stack, user, min_quality=90) == [old]
    assert await ids(stack, user, max_quality=50) == [library]
    assert await ids(stack, user, min_quality=30, max_quality=96) == [library, old]
    assert await ids(stack, user, created_after=(now - timedelta(days=6)).isoformat()) == [
        new,
        cat,
        library,
    ]
    assert await ids(stack, user, created_before=(now - timedelta(days=2)).isoformat()) == [
        library,
        old,
    ]
    assert await ids(stack, user, tag="shop") == [cat, old]
    assert await ids(stack, user, q="shop") == [new, old]
    assert await ids(stack, user, q="100%") == [cat]
    assert await ids(stack, user, q="fur_") == [cat]
    assert await ids(stack, user, q="LIBRARY") == [library]
    assert await ids(stack, user, tag="shop", q="old") == [old]


async def test_paging_1000_while_inserting_sees_each_exactly_once(stack: Stack) -> None:
    user = f"pages-{uuid.uuid4()}"
    start = datetime.now(UTC) - timedelta(hours=1)
    # Pairs share a timestamp, so the id breaks ties.
    originals = [row(user, start + timedelta(seconds=i // 2)) for i in range(1000)]
    await seed(stack, originals)

    inserted: list[str] = []

    async def insert_meanwhile() -> None:
        for i in range(60):
            extra = row(user, datetime.now(UTC) + timedelta(milliseconds=i))
            await seed(stack, [extra])
            inserted.append(str(extra["id"]))
            await asyncio.sleep(0.005)  # the writer's pace: inserts spread over the paging

    writer = asyncio.create_task(insert_meanwhile())
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 37}
        if cursor:
            params["cursor"] = cursor
        response = await stack.http.get("/v1/generations", params=params, headers=stack.auth(user))
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    await writer

    assert len(seen) == len(set(seen)), "an item was repeated"
    expected = [
        str(r["id"])
        for r in sorted(originals, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    ]
    assert [i for i in seen if i not in inserted] == expected
    assert pages >= 1000 // 37
