"""The `genflow` API client commands against the live stack, and the event stream's
resume across dropped connections against a scripted local server."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from genflow.cli.watch import watch_generation as _watch
from genflow.client import ApiError, Event, GenflowClient, StreamError
from tests.conftest import LIBRARY, Stack

GENFLOW = Path(sys.executable).parent / "genflow"
USER = "cli-user"


@dataclass
class Run:
    code: int
    out: str
    err: str


async def genflow(
    stack: Stack, *args: str, token: bool = True, api_url: str | None = None, timeout: float = 60
) -> Run:
    """Run the CLI in a subprocess, so that this loop keeps serving the stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENFLOW_")}
    if token:
        env["GENFLOW_TOKEN"] = stack.token(USER)
    process = await asyncio.create_subprocess_exec(
        str(GENFLOW),
        *args,
        "--api-url",
        api_url or str(stack.http.base_url).rstrip("/"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


@pytest.fixture
def pg_stack(stack: Stack) -> Stack:
    """The stack on PostgreSQL only: the client is the same over either read model."""
    if stack.settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("CLI tests run against the PostgreSQL stack only")
    return stack


async def expected_lines(stack: Stack, generation_id: str) -> list[str]:
    """The plain `watch` lines for the stored events: each stage event once, in order."""
    lines: list[str] = []
    attempts: dict[str, int] = {}
    for event in await stack.repository.events_after(uuid.UUID(generation_id), 0):
        if event.event == "stage":
            stage = event.data["stage"]
            attempts[stage] = event.data.get("attempt") or attempts.get(stage, 1)
            lines.append(f"{stage} {event.data['status']} attempt {attempts[stage]}")
        elif event.event == "done":
            score = event.data["quality_score"]
            lines.append(
                f"done {event.data['status']} quality {'-' if score is None else f'{score:g}'}"
            )
            if event.data["error"]:
                error = event.data["error"]
                lines.append(f"error {error['code']}: {error['message']}")
    return lines


@pytest.fixture(scope="module")
async def completed(stack: Stack) -> AsyncIterator[tuple[str, Run]]:
    """A generation created with `genflow create --watch`, followed to completion."""
    if stack.settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("CLI tests run against the PostgreSQL stack only")
    run = await genflow(stack, "create", LIBRARY, "--template", "python-library", "--watch")
    yield run.out.splitlines()[0], run


async def test_create_watch_follows_to_completion(
    pg_stack: Stack, completed: tuple[str, Run]
) -> None:
    generation_id, run = completed
    assert run.code == 0, run.err
    uuid.UUID(generation_id)
    lines = run.out.splitlines()[1:]
    assert lines == await expected_lines(pg_stack, generation_id)
    assert "schema_extraction running attempt 1" in lines
    assert "documentation completed attempt 1" in lines
    assert lines[-1].startswith("done completed quality ")
    generation = await pg_stack.get(generation_id, USER)
    assert generation["status"] == "completed"
    assert generation["template"] == "python-library"


async def test_create_without_watch_prints_the_id(pg_stack: Stack) -> None:
    run = await genflow(pg_stack, "create", LIBRARY)
    assert run.code == 0, run.err
    generation_id = run.out.strip()
    generation = await pg_stack.get(generation_id, USER)
    assert generation["prompt"] == LIBRARY
    await pg_stack.finished(generation_id, user=USER)


async def test_list_shows_the_generation(pg_stack: Stack, completed: tuple[str, Run]) -> None:
    generation_id, _ = completed
    run = await genflow(pg_stack, "list", "--status", "completed")
    assert run.code == 0, run.err
    assert generation_id in run.out
    assert "completed" in run.out


async def test_show_prints_status_stages_and_score(
    pg_stack: Stack, completed: tuple[str, Run]
) -> None:
    generation_id, _ = completed
    generation = await pg_stack.get(generation_id, USER)
    run = await genflow(pg_stack, "show", generation_id)
    assert run.code == 0, run.err
    assert generation_id in run.out
    assert "completed" in run.out
    for stage in ("schema_extraction", "code_generation", "code_review", "documentation"):
        assert stage in run.out
    assert f"{generation['quality_score']:g}" in run.out
    assert "README.md" in run.out


async def test_download_extracts_the_archive(
    pg_stack: Stack, completed: tuple[str, Run], tmp_path: Path
) -> None:
    generation_id, _ = completed
    generation = await pg_stack.get(generation_id, USER)
    target = tmp_path / "project"
    run = await genflow(pg_stack, "download", generation_id, str(target))
    assert run.code == 0, run.err
    assert (target / "README.md").is_file()
    paths = {a["path"] for a in generation["artifacts"]}
    extracted = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert extracted == paths
    for path in paths:
        content = await pg_stack.http.get(
            f"/v1/generations/{generation_id}/artifacts/{path}", headers=pg_stack.auth(USER)
        )
        assert (target / path).read_bytes() == content.content


async def test_watch_of_a_failed_generation_exits_1(pg_stack: Stack) -> None:
    created = await pg_stack.create(USER, prompt="Nothing here.")
    run = await genflow(pg_stack, "watch", created["id"])
    assert run.code == 1
    assert "invalid_requirements" in run.out
    assert "done failed" in run.out
    assert run.out.splitlines() == await expected_lines(pg_stack, created["id"])


async def test_watch_shows_a_retry_once(pg_stack: Stack) -> None:
    created = await pg_stack.create(USER, metadata={"test": {"fail_once": "code_generation"}})
    run = await genflow(pg_stack, "watch", created["id"])
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert "code_generation retrying attempt 1" in lines
    assert "code_generation running attempt 2" in lines
    assert lines == await expected_lines(pg_stack, created["id"])
    assert len(lines) == len(set(lines))


async def test_cancel_stops_a_running_generation(pg_stack: Stack) -> None:
    created = await pg_stack.create(USER, metadata={"test": {"pace": 1.0}})
    run = await genflow(pg_stack, "cancel", created["id"], "--reason", "not needed")
    assert run.code == 0, run.err
    assert created["id"] in run.out
    final = await pg_stack.wait_until(
        created["id"], lambda g: g["status"] == "cancelled", user=USER
    )
    assert final["cancel_reason"] == "not needed"

    again = await genflow(pg_stack, "cancel", created["id"])
    assert again.code == 1
    assert again.err.startswith("error: ")


async def test_http_error_prints_the_problem_detail(pg_stack: Stack) -> None:
    run = await genflow(pg_stack, "show", str(uuid.uuid4()))
    assert run.code == 1
    assert "No such generation" in run.err
    assert run.out == ""


async def test_no_token_exits_1(pg_stack: Stack) -> None:
    run = await genflow(pg_stack, "list", token=False)
    assert run.code == 1
    assert "GENFLOW_TOKEN" in run.err


class DroppingProxy:
    """A TCP proxy to the API that cuts the first event stream after its first stage
    event; it records the request heads it forwarded."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.heads: list[str] = []
        self.dropped = False
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head.decode())
        drop = "/stream" in head.decode().split("\r\n")[0] and not self.dropped
        self.dropped = self.dropped or drop
        up_writer.write(head)

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: bool = False
        ) -> None:
            seen = b""
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
                seen += chunk
                if cut and b"event: stage" in seen:
                    return

        tasks = [
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer, cut=drop)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for w in (writer, up_writer):
            w.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_watch_survives_a_dropped_connection(pg_stack: Stack) -> None:
    created = await pg_stack.create(USER, metadata={"test": {"pace": 0.3}})
    port = pg_stack.http.base_url.port
    assert port is not None
    proxy = DroppingProxy(port)
    async with proxy as proxy_url:
        run = await genflow(pg_stack, "watch", created["id"], api_url=proxy_url)
    assert run.code == 0, run.err
    assert proxy.dropped
    assert len(proxy.heads) >= 2
    assert "last-event-id:" in proxy.heads[1].lower()
    lines = run.out.splitlines()
    assert lines == await expected_lines(pg_stack, created["id"])
    assert lines[-1].startswith("done completed")


# -- stream_events against a scripted server that drops connections ---------------


def sse(event_id: int, name: str, data: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()


EVENTS: list[tuple[int, str, dict[str, Any]]] = [
    (1, "status", {"status": "processing"}),
    (2, "stage", {"stage": "schema_extraction", "status": "running", "attempt": 1}),
    (3, "stage", {"stage": "schema_extraction", "status": "completed", "attempt": 1}),
    (4, "progress", {"progress": 20, "stage": "schema_extraction"}),
    (5, "stage", {"stage": "code_generation", "status": "running", "attempt": 1}),
    (6, "done", {"status": "completed", "quality_score": 90.0, "error": None}),
]


class ScriptedServer:
    """A raw HTTP server: each connection gets the next scripted answer; it records
    the Last-Event-ID header of every request."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.last_event_ids: list[str | None] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        index = len(self.last_event_ids)
        self.last_event_ids.append(headers.get("last-event-id"))
        writer.write(self.answers[min(index, len(self.answers) - 1)])
        await writer.drain()
        writer.close()  # abrupt: no end of the chunked body unless the answer has it

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def chunked_cut(body: bytes) -> bytes:
    """A chunked 200 whose connection drops before the body ends."""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n"
    )


def complete(body: bytes, status: str = "200 OK", media: str = "text/event-stream") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {media}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


async def collect(base_url: str, **options: Any) -> list[Any]:
    def run() -> list[Any]:
        with GenflowClient(base_url, "token", backoff=0.01, **options) as client:
            return list(client.stream_events("gen"))

    return await asyncio.to_thread(run)


async def test_stream_events_resume_without_missing_or_repeating() -> None:
    first = b"retry: 2000\n\n" + b"".join(sse(*e) for e in EVENTS[:3])
    first += b"id: 4\nevent: progress\n"  # cut inside event 4
    second = b": keep-alive\n\n" + b"".join(sse(*e) for e in EVENTS[3:5])  # ends without done
    third = b"".join(sse(*e) for e in EVENTS[4:])  # repeats event 5
    server = ScriptedServer([chunked_cut(first), complete(second), complete(third)])
    async with server as base_url:
        events = await collect(base_url)

    assert [(e.id, e.event, e.data) for e in events] == EVENTS
    assert server.last_event_ids == [None, "3", "5"]


async def test_stream_events_gives_up_after_bounded_retries() -> None:
    server = ScriptedServer([complete(sse(*EVENTS[0]))])
    async with server as base_url:
        with pytest.raises(StreamError):
            await collect(base_url, max_retries=2)
    assert server.last_event_ids == [None, "1", "1"]


async def test_stream_events_does_not_retry_a_client_error() -> None:
    problem = json.dumps({"title": "Not Found", "status": 404, "detail": "No such generation."})
    server = ScriptedServer(
        [complete(problem.encode(), "404 Not Found", "application/problem+json")]
    )
    async with server as base_url:
        with pytest.raises(ApiError, match="No such generation"):
            await collect(base_url)
    assert server.last_event_ids == [None]


class FakeClient:
    def __init__(self, events: list[tuple[int, str, dict[str, Any]]]) -> None:
        self.events = events

    def stream_events(self, generation_id: str, after: int = 0) -> Any:
        return (Event(*e) for e in self.events)


@pytest.mark.parametrize("terminal", [True, False])
def test_watch_renders_progress_and_exit_status(
    terminal: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = [*EVENTS[:5], (6, "done", {"status": "failed", "quality_score": None, "error": None})]
    for events, code, last in (
        (EVENTS, 0, "done completed quality 90"),
        (failed, 1, "done failed"),
    ):
        output = io.StringIO()
        console = Console(file=output, force_terminal=terminal, width=120)
        assert console.is_terminal is terminal
        assert _watch(FakeClient(events), "gen", console) == code  # type: ignore[arg-type]
        shown = output.getvalue() if terminal else capsys.readouterr().out
        assert last in shown
        assert "code_generation" in shown


# -- the commands that take a generation further, and the exit codes -------------------


async def test_iterate_starts_a_generation_on_the_completed_one(
    pg_stack: Stack, completed: tuple[str, Run]
) -> None:
    parent_id, _ = completed
    run = await genflow(pg_stack, "iterate", parent_id, "Book also has pages (integer).", "--watch")

    assert run.code == 0, run.err
    child = await pg_stack.get(run.out.splitlines()[0], USER)
    assert (child["parent_id"], child["status"]) == (parent_id, "completed")


async def test_retry_reruns_a_failed_generation_and_refuses_a_completed_one(
    pg_stack: Stack, completed: tuple[str, Run]
) -> None:
    failed = await pg_stack.create(USER, prompt="Nothing here.")
    await pg_stack.wait_until(failed["id"], lambda g: g["status"] == "failed", user=USER)

    run = await genflow(pg_stack, "retry", failed["id"], "--priority", "batch")
    refused = await genflow(pg_stack, "retry", completed[0])

    assert run.code == 0, run.err
    rerun = await pg_stack.get(run.out.strip(), USER)
    assert (rerun["retry_of"], rerun["priority"]) == (failed["id"], "batch")
    assert refused.code == 1 and "Only a failed or cancelled" in refused.err


async def test_approve_and_reject_decide_a_waiting_generation(pg_stack: Stack) -> None:
    waiting = [await pg_stack.create(USER, require_approval=True) for _ in range(2)]
    for generation in waiting:
        await pg_stack.wait_until(
            generation["id"], lambda g: g["status"] == "awaiting_approval", user=USER
        )

    approved = await genflow(pg_stack, "approve", waiting[0]["id"], "--reason", "fine")
    rejected = await genflow(pg_stack, "reject", waiting[1]["id"], "--reason", "too big")
    again = await genflow(pg_stack, "approve", waiting[1]["id"])

    assert approved.code == 0, approved.err
    assert approved.out.split() == [waiting[0]["id"], "processing"]
    assert rejected.code == 0, rejected.err
    assert rejected.out.split() == [waiting[1]["id"], "failed"]
    assert again.code == 1 and again.err.startswith("error: ")


async def test_events_prints_json_lines_to_done_and_exits_by_the_outcome(
    pg_stack: Stack, completed: tuple[str, Run]
) -> None:
    failed = await pg_stack.create(USER, prompt="Nothing here.")
    ok = await genflow(pg_stack, "events", completed[0])
    bad = await genflow(pg_stack, "events", failed["id"])

    lines = [json.loads(line) for line in ok.out.splitlines()]
    stored = await pg_stack.repository.events_after(uuid.UUID(completed[0]), 0)
    assert ok.code == 0, ok.err
    assert [line["id"] for line in lines] == [event.id for event in stored]
    assert lines[-1]["event"] == "done" and lines[-1]["data"]["status"] == "completed"
    assert bad.code == 1
    assert json.loads(bad.out.splitlines()[-1])["data"]["status"] == "failed"


async def test_stats_prints_the_totals(pg_stack: Stack, completed: tuple[str, Run]) -> None:
    run = await genflow(pg_stack, "stats")

    assert run.code == 0, run.err
    assert "completed" in run.out and "success rate" in run.out and "tokens today" in run.out


async def test_show_and_download_exit_non_zero_unless_the_generation_completed(
    pg_stack: Stack, tmp_path: Path
) -> None:
    failed = await pg_stack.create(USER, prompt="Nothing here.")
    running = await pg_stack.create(USER, metadata={"test": {"pace": 30}})
    await pg_stack.wait_until(failed["id"], lambda g: g["status"] == "failed", user=USER)

    shown_failed = await genflow(pg_stack, "show", failed["id"])
    shown_running = await genflow(pg_stack, "show", running["id"])
    downloaded = await genflow(pg_stack, "download", failed["id"], str(tmp_path / "out"))
    await genflow(pg_stack, "cancel", running["id"])

    assert shown_failed.code == 1 and "invalid_requirements" in shown_failed.out
    assert shown_running.code == 2
    assert downloaded.code == 1
    assert "is failed, not completed: nothing to download" in downloaded.err
    assert not (tmp_path / "out").exists()
