"""Reads never wait for writes: a GET, a list page and a repository read answer while
another transaction holds a generation's row (and, on SQLite, the database's write
lock), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from genflow.db.locks import lock
from tests.conftest import Stack

# A writer holds its lock at most this long; a read that waited for it would finish
# only after the writer let go.
HOLD_SECONDS = 20.0


@asynccontextmanager
async def writer_holding(stack: Stack, generation_id: str) -> AsyncIterator[asyncio.Event]:
    """A write transaction that locks the generation's row (SQLite: BEGIN IMMEDIATE, the
    database's write lock) and holds it until the yielded event is set or HOLD_SECONDS
    pass. Yields once the lock is held."""
    held, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with stack.repository.session_maker.begin() as session:
            assert await lock(session, uuid.UUID(generation_id)) is not None
            held.set()
            await asyncio.wait_for(release.wait(), HOLD_SECONDS)

    task = asyncio.create_task(hold())
    await asyncio.wait({task, asyncio.create_task(held.wait())}, return_when="FIRST_COMPLETED")
    assert held.is_set(), task.exception()
    try:
        yield release
    finally:
        release.set()
        await task  # raises TimeoutError if a read kept the writer past HOLD_SECONDS


async def test_reads_answer_while_a_writer_holds_the_lock(stack: Stack) -> None:
    created = await stack.create()
    await stack.finished(created["id"])
    headers = stack.auth()

    async with writer_holding(stack, created["id"]) as release:
        got = await stack.http.get(f"/v1/generations/{created['id']}", headers=headers)
        page = await stack.http.get("/v1/generations?limit=5", headers=headers)
        row = await stack.repository.get(uuid.UUID(created["id"]))
        # Every read finished while the writer still held its lock.
        assert not release.is_set()

    assert got.status_code == 200 and got.json()["status"] == "completed"
    assert page.status_code == 200
    assert created["id"] in [item["id"] for item in page.json()["items"]]
    assert row is not None and row.status == "completed"


async def test_a_write_still_waits_its_turn(stack: Stack) -> None:
    """Writers keep taking the lock up front: one that starts while another holds the
    row waits and then succeeds, it does not fail with "database is locked"."""
    created = await stack.create()
    await stack.finished(created["id"])
    headers = stack.auth()

    async with writer_holding(stack, created["id"]) as release:
        patch = asyncio.create_task(
            stack.http.patch(
                f"/v1/generations/{created['id']}", json={"title": "renamed"}, headers=headers
            )
        )
        await asyncio.sleep(0.3)
        assert not patch.done()  # queued behind the writer
        release.set()
    answer = await patch

    assert answer.status_code == 200, answer.text
    assert (await stack.get(created["id"]))["title"] == "renamed"
