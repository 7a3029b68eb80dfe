"""A generation's events as Server-Sent Events (api/generations/events.py), with resume."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from tests.conftest import Stack


async def read_events(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], stop_after: int | None = None
) -> list[dict[str, Any]]:
    """Parse an SSE response into events; stop after `stop_after` events (a client
    disconnecting) or when the server ends the stream."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line == "":
                if "event" in current:
                    events.append(current)
                    if stop_after is not None and len(events) >= stop_after:
                        break
                current = {}
            elif line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
    return events


async def test_reconnect_with_last_event_id_gets_every_event_once(stack: Stack) -> None:
    created = await stack.create(metadata={"test": {"pace": 0.3}})
    url = f"/v1/generations/{created['id']}/stream"

    first = await read_events(stack.http, url, stack.auth(), stop_after=4)
    assert len(first) == 4
    resumed = await read_events(
        stack.http, url, {**stack.auth(), "Last-Event-ID": str(first[-1]["id"])}
    )

    received = first + resumed
    stored = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    assert [e["id"] for e in received] == [e.id for e in stored]
    assert [(e["event"], e["data"]) for e in received] == [(e.event, e.data) for e in stored]
    assert received[-1]["event"] == "done"
    assert received[-1]["data"]["status"] == "completed"
    assert [e["event"] for e in received].count("done") == 1


async def test_after_parameter_replays_a_finished_generation(stack: Stack) -> None:
    created = await stack.create()
    await stack.finished(created["id"])
    stored = await stack.repository.events_after(uuid.UUID(created["id"]), 0)

    replay = await read_events(
        stack.http, f"/v1/generations/{created['id']}/stream?after=3", stack.auth()
    )

    assert [e["id"] for e in replay] == [e.id for e in stored if e.id > 3]
    assert replay[-1]["event"] == "done"


async def test_resuming_past_the_last_event_of_an_ended_generation_ends_the_stream(
    stack: Stack,
) -> None:
    created = await stack.create()
    await stack.finished(created["id"])
    stored = await stack.repository.events_after(uuid.UUID(created["id"]), 0)
    url = f"/v1/generations/{created['id']}/stream"

    # An EventSource reconnects after its last `done`: it is told there is no more
    # (read_events returns only when the server ends the stream).
    for last in (stored[-1].id, stored[-1].id + 100):
        headers = {**stack.auth(), "Last-Event-ID": str(last)}
        assert await asyncio.wait_for(read_events(stack.http, url, headers), 10) == []


async def test_bad_last_event_id_is_422(stack: Stack) -> None:
    created = await stack.create()
    response = await stack.http.get(
        f"/v1/generations/{created['id']}/stream",
        headers={**stack.auth(), "Last-Event-ID": "abc"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
