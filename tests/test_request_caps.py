"""Long-lived requests per user: open event streams and `Prefer: wait` requests are
capped per user (429 with Retry-After past the cap, before anything is created), and
every watcher of one generation shares one poller of the database."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.watching import Watching
from genflow.db.engine import make_session_maker
from tests.conftest import Stack, eventually, serve

CAP = 2
SLOW = {"test": {"pace": 30}}  # each stage takes 30 s: the generation stays processing


@contextlib.asynccontextmanager
async def capped_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An API on the stack's worker queue with caps of CAP streams and CAP waits."""
    settings = stack.settings.model_copy(
        update={"max_streams_per_user": CAP, "max_waits_per_user": CAP}
    )
    server, task, url = await serve(
        create_app(settings, engine=stack.engine, temporal=stack.temporal)
    )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def slow_generation(stack: Stack, http: httpx.AsyncClient, user: str) -> str:
    response = await http.post(
        "/v1/generations",
        json={"prompt": "Task has title.", "metadata": SLOW},
        headers=stack.auth(user),
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def cancel(stack: Stack, http: httpx.AsyncClient, generation_id: str, user: str) -> None:
    await http.post(f"/v1/generations/{generation_id}/cancel", json={}, headers=stack.auth(user))


def assert_capped(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert f"{CAP} open" in response.json()["detail"]


@pytest.mark.postgresql_only
async def test_open_streams_are_capped_per_user_and_a_closed_one_frees_its_slot(
    stack: Stack,
) -> None:
    async with capped_api(stack) as http:
        mine = await slow_generation(stack, http, "streamer")
        theirs = await slow_generation(stack, http, "other-streamer")
        url = f"/v1/generations/{mine}/stream"
        async with contextlib.AsyncExitStack() as held:
            for _ in range(CAP):
                response = await held.enter_async_context(
                    http.stream("GET", url, headers=stack.auth("streamer"))
                )
                assert response.status_code == 200
            over = await http.get(url, headers=stack.auth("streamer"))
            assert_capped(over)
            async with http.stream(
                "GET", f"/v1/generations/{theirs}/stream", headers=stack.auth("other-streamer")
            ) as other:
                assert other.status_code == 200  # another user is not held back

            first = held.pop_all()
            await first.aclose()  # both close: their slots come back once the API notices

        async def reopened() -> bool:
            async with http.stream("GET", url, headers=stack.auth("streamer")) as again:
                return again.status_code == 200

        assert await eventually(reopened, 10, 0.2, "a stream slot to be given back")
        await cancel(stack, http, mine, "streamer")
        await cancel(stack, http, theirs, "other-streamer")


@pytest.mark.postgresql_only
async def test_waiting_requests_are_capped_per_user_before_anything_is_created(
    stack: Stack,
) -> None:
    async with capped_api(stack) as http:
        generation_id = await slow_generation(stack, http, "waiter")
        wait = {**stack.auth("waiter"), "Prefer": "wait=30"}
        url = f"/v1/generations/{generation_id}"
        waiting = [asyncio.create_task(http.get(url, headers=wait)) for _ in range(CAP)]

        async def both_waiting() -> bool:
            metrics = (await http.get("/metrics")).text
            return 'genflow_long_requests{kind="waits"} 2.0' in metrics

        await eventually(both_waiting, 10, 0.05, "both waits to hold their slots")
        over = await http.get(url, headers=wait)
        assert_capped(over)
        before = await http.get("/v1/generations", headers=stack.auth("waiter"))
        refused = await http.post(
            "/v1/generations", json={"prompt": "Task has title."}, headers=wait
        )
        after = await http.get("/v1/generations", headers=stack.auth("waiter"))
        plain = await http.get(url, headers=stack.auth("waiter"))

        assert_capped(refused)
        assert len(after.json()["items"]) == len(before.json()["items"])  # nothing created
        assert plain.status_code == 200  # a request that does not wait is not capped
        await cancel(stack, http, generation_id, "waiter")
        answers: list[Any] = await asyncio.gather(*waiting)
        assert [a.status_code for a in answers] == [200] * CAP


async def test_every_watcher_of_a_generation_shares_one_poller(stack: Stack) -> None:
    created = await stack.create(metadata=SLOW)
    generation_id = uuid.UUID(created["id"])
    watching = Watching(make_session_maker(stack.engine), 0.02, CAP, CAP)

    async with contextlib.AsyncExitStack() as watchers:
        views = [
            await watchers.enter_async_context(watching.watch(generation_id)) for _ in range(5)
        ]
        other = await watchers.enter_async_context(watching.watch(uuid.uuid4()))
        assert watching.pollers == 2
        reads = watching.reads
        await eventually(lambda: watching.reads >= reads + 10, 10, 0.01, "ten polls")
        assert views[0].mark.status in ("pending", "processing")
        assert other.mark.status is None  # no such generation
    assert watching.pollers == 0
    await stack.http.post(f"/v1/generations/{created['id']}/cancel", json={}, headers=stack.auth())
