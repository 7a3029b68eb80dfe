"""A small OpenAI-compatible Chat Completions server for tests, scripted per request.

`POST /v1/chat/completions`, streamed (SSE chunks in OpenAI's format, a usage chunk
when `stream_options.include_usage`, then `data: [DONE]`) or not. Each request is
classified from its body: a spec request (response_format json_schema "ProjectSpec"),
a file plan ("FilePlan"), a repair of either (it carries the model's earlier reply as
an assistant message) or a file (the last message names it on a `Path:` line).

A test picks a behaviour by putting a marker in the requirements,
``[scenario:NAME:TAG]`` (TAG makes the marker unique to the test). The spec the fake
returns keeps the marker in its notes, so every later request of that generation
carries it too and `FakeOpenAI.requests_for(marker)` finds them all. Scenarios, for
the spec request:

- ``ok``: a valid spec;
- ``rate-limit-once``: 429 the first time, then a valid spec;
- ``malformed-once``: invalid JSON the first time, then (to the repair) a valid spec;
- ``malformed-always``: invalid JSON, to the repair too;
- ``bad-request``: 400 every time;
- ``slow-stream``: a valid spec, one chunk every 0.2 s for 30 s.

and for the file plan, ``unsafe-path``: a plan (and repaired plan) with "../outside.py".

Hostile projects, for the sandbox's tests (tests/test_sandbox.py): the plan and files of the
tiny package plus ``tests/test_probe.py``, whose tests each try an attack and assert that it
worked, so that in a working sandbox every probe fails (but the one leaving processes
behind, which passes: the host checks afterwards that they are gone). The paths, ports and
tokens the probes aim at come from `FakeOpenAI.secrets`, rendered into the file.

- ``hostile-escape``: read other processes' environments, see the host's processes; list
  GENFLOW_HOME, open the SQLite read model, list /root, read the worker's tree; connect to
  PostgreSQL (TCP and its Unix socket), Temporal, the API and the model server; write
  outside the project (a canary path, the worker's venv); make a user namespace; leave
  processes running;
- ``hostile-resources``: fork without bound, allocate past the memory limit, write a file
  past the file-size limit, fill the disk with files under it;
- ``hostile-sleep``: leave a process running, then sleep forever (in a child carrying the
  same token);
- ``hostile-memory``: hold 2 GiB across 8 processes, each under the per-process limit.

An iteration (the prompt holds the parent's spec) gets the spec with a field and an
entity added. Every other request gets the plan and files of a tiny package, `inventory`,
with one function and a passing test.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

MARKER = re.compile(r"\[scenario:([a-z-]+)(?::([\w-]+))?\]")
PATH_LINE = re.compile(r"^Path: (\S+)$", re.M)
SLOW_CHUNKS = 150
SLOW_INTERVAL = 0.2
CHUNK_CHARS = 24

PACKAGE = "inventory"
PLAN = {
    "files": [
        {"path": "pyproject.toml", "kind": "source", "purpose": "packaging"},
        {"path": f"{PACKAGE}/__init__.py", "kind": "source", "purpose": "the package"},
        {"path": f"{PACKAGE}/core.py", "kind": "source", "purpose": "the functions"},
        {"path": "tests/test_core.py", "kind": "test", "purpose": "tests of core"},
        # genflow writes README.md itself: the provider must not ask for it.
        {"path": "README.md", "kind": "source", "purpose": "readme"},
    ]
}
UNSAFE_PLAN = {"files": [*PLAN["files"], {"path": "../outside.py", "kind": "source"}]}
PROBE_PATH = "tests/test_probe.py"
HOSTILE_PLAN = {
    "files": [*PLAN["files"], {"path": PROBE_PATH, "kind": "test", "purpose": "probes"}]
}
MALFORMED = '{"name": "inventory", "entities": ['
FILES = {
    "pyproject.toml": (
        '[project]\nname = "inventory"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    ),
    f"{PACKAGE}/__init__.py": (
        '"""An inventory of items."""\n\n'
        "from inventory.core import total_quantity\n\n"
        '__all__ = ["total_quantity"]\n'
    ),
    # Fenced, the way chatty models answer: the provider strips the fences.
    f"{PACKAGE}/core.py": (
        "```python\n"
        '"""Counting items."""\n\n\n'
        "def total_quantity(quantities: list[int]) -> int:\n"
        '    """The sum of the quantities."""\n'
        "    return sum(quantities)\n"
        "```"
    ),
    "tests/test_core.py": (
        "from inventory.core import total_quantity\n\n\n"
        "def test_total_quantity() -> None:\n"
        "    assert total_quantity([2, 3]) == 5\n\n\n"
        "def test_total_of_nothing_is_zero() -> None:\n"
        "    assert total_quantity([]) == 0\n"
    ),
}

# -- hostile projects ------------------------------------------------------------------
# The probe file: PROBE_HEADER (with `SECRETS = {...}` rendered from FakeOpenAI.secrets:
# home, read_model, worker_tree, canary, venv_canary, postgresql_socket, env_token,
# process_token, ports {postgresql, temporal, api, model}) and the scenario's probes.

PROBE_HEADER = r'''"""Probes of the sandbox: each test tries an attack, asserts that it worked."""
# ruff: noqa: F401 (one header for every scenario's probes)

import os
import socket
import subprocess
import sys
import time

SECRETS = __SECRETS__
QUIET = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def _leave_a_process(token: str) -> None:
    """A detached process carrying `token` in its command line, sleeping for long."""
    code = "import time; time.sleep(1000)"
    subprocess.Popen([sys.executable, "-c", code, token], start_new_session=True, **QUIET)
'''

ESCAPE_PROBES = r"""

def _other_pids() -> list[str]:
    own = str(os.getpid())
    return [pid for pid in os.listdir("/proc") if pid.isdigit() and pid != own]


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return b""


def _connect(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


# Whether process `pid`'s environment is readable and not the sandbox's own: it holds a
# secret, or a variable this process does not have.
def _foreign_environ(pid: str) -> bool:
    environ = _read(f"/proc/{pid}/environ")
    secrets = (b"DATABASE_URL", b"GENFLOW", SECRETS["env_token"].encode())
    own = set(_read("/proc/self/environ").split(b"\0"))
    return any(s in environ for s in secrets) or bool(set(environ.split(b"\0")) - own)


def test_read_other_process_environ() -> None:
    readable = [pid for pid in _other_pids() if _foreign_environ(pid)]
    assert readable, "no other process's environment could be read"


def test_read_init_environ() -> None:
    assert _foreign_environ("1"), "/proc/1/environ is unreadable or the sandbox's own"


def test_see_host_processes() -> None:
    token = SECRETS["env_token"].encode()
    assert any(token in _read(f"/proc/{pid}/cmdline") for pid in _other_pids())


def test_list_genflow_home() -> None:
    assert "genflow.db" in os.listdir(SECRETS["home"])


def test_open_read_model() -> None:
    with open(SECRETS["read_model"], "rb") as file:
        assert file.read(16) == b"SQLite format 3\x00"


def test_list_root_home() -> None:
    assert os.listdir("/root")


def test_read_worker_tree() -> None:
    with open(os.path.join(SECRETS["worker_tree"], "genflow", "settings.py")) as file:
        assert "class Settings" in file.read()


def test_connect_postgresql() -> None:
    _connect(SECRETS["ports"]["postgresql"])


def test_connect_postgresql_socket() -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(SECRETS["postgresql_socket"])


def test_connect_temporal() -> None:
    _connect(SECRETS["ports"]["temporal"])


def test_connect_api() -> None:
    _connect(SECRETS["ports"]["api"])


def test_connect_model_server() -> None:
    _connect(SECRETS["ports"]["model"])


def test_write_outside_project() -> None:
    with open(SECRETS["canary"], "x") as file:
        file.write("escaped\n")
    assert os.path.exists(SECRETS["canary"])


def test_write_into_worker_venv() -> None:
    with open(SECRETS["venv_canary"], "x") as file:
        file.write("escaped\n")
    assert os.path.exists(SECRETS["venv_canary"])


# Last in the file: what it starts is not around when the probes above look at processes.
def test_create_user_namespace() -> None:
    # In a child: a process of the test run that left its user namespace would see the
    # host's files differently for the probes after it.
    code = (
        "import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
        "sys.exit(0 if libc.unshare(0x10000000) == 0 else ctypes.get_errno())"
    )
    done = subprocess.run([sys.executable, "-c", code], **QUIET)
    assert done.returncode == 0, f"unshare(CLONE_NEWUSER): {os.strerror(done.returncode)}"


def test_zz_leave_processes_behind() -> None:
    _leave_a_process(SECRETS["process_token"])
    daemon = (
        "import os, signal, time\n"
        "for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):\n"
        "    signal.signal(sig, signal.SIG_IGN)\n"
        "if os.fork():\n"
        "    os._exit(0)\n"
        "os.setsid()\n"
        "time.sleep(1000)\n"
    )
    token = SECRETS["process_token"]
    subprocess.Popen([sys.executable, "-c", daemon, token], start_new_session=True, **QUIET)
    time.sleep(0.5)  # the daemon has forked and left its session
"""

RESOURCE_PROBES = r"""
MIB = 1024 * 1024


def test_fork_without_bound() -> None:
    read_end, write_end = os.pipe()
    children: list[int] = []
    error = None
    try:
        for _ in range(2000):
            try:
                pid = os.fork()
            except OSError as err:
                error = err
                break
            if pid == 0:  # the child waits for the parent to close the pipe
                try:
                    os.close(write_end)
                    os.read(read_end, 1)
                finally:
                    os._exit(0)
            children.append(pid)
    finally:
        os.close(write_end)
        for pid in children:
            os.waitpid(pid, 0)
        os.close(read_end)
    assert len(children) >= 1000, f"forked {len(children)} processes, then {error!r}"


def test_allocate_past_memory_limit() -> None:
    block = bytearray(2048 * MIB)
    assert len(block) == 2048 * MIB


def test_write_past_file_size_limit() -> None:
    chunk = b"\0" * MIB
    written = 0
    try:
        with open("filler.bin", "wb") as file:
            for _ in range(256):
                file.write(chunk)
                written += len(chunk)
    finally:
        if os.path.exists("filler.bin"):
            os.remove("filler.bin")
    assert written == 256 * MIB


def test_fill_disk_with_files_under_the_size_limit() -> None:
    chunk = b"\0" * MIB
    written = 0
    names = [f"filler-{n}.bin" for n in range(12)]
    try:
        for name in names:
            with open(name, "wb") as file:
                for _ in range(48):
                    file.write(chunk)
                    written += len(chunk)
    finally:
        for name in names:
            if os.path.exists(name):
                os.remove(name)
    assert written == 12 * 48 * MIB
"""

MEMORY_PROBES = r"""
MIB = 1024 * 1024


def test_allocate_2_gib_across_8_processes() -> None:
    # Each child touches 256 MiB (under the per-process limit) and holds it until all
    # have: 2 GiB at once, which only a limit on the whole run stops.
    read_end, write_end = os.pipe()
    children = []
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(write_end)
                block = b"\x01" * (256 * MIB)
                os.read(read_end, 1)
                code = 0 if len(block) == 256 * MIB else 1
            finally:
                os._exit(code)
        children.append(pid)
    time.sleep(6)
    os.close(write_end)
    ends = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert ends == [0] * 8, f"children ended {ends}"
"""

SLEEP_PROBES = r"""

def test_sleep_forever() -> None:
    _leave_a_process(SECRETS["process_token"])
    # pytest waits forever, on a child that carries the token too.
    sleeper = "import time; time.sleep(10**6)"
    subprocess.run([sys.executable, "-c", sleeper, SECRETS["process_token"]], **QUIET)
    time.sleep(10**6)
"""

# A project that rewrites pytest's JUnit XML report at exit (after pytest wrote it) with
# REPORT_CASES failures of long messages: about 16 MB, just under the reader's 16 MiB.
REPORT_CASES = 8_500
REPORT_PROBES = r"""
def _flood_the_report() -> None:
    path = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--junitxml="))
    long = "x" * 700
    with open(path, "w") as report:
        report.write('<?xml version="1.0"?><testsuites><testsuite name="pytest">')
        for i in range(__CASES__):
            report.write(
                f'<testcase classname="tests.test_probe" name="test_{i}_{long[:400]}" '
                f'file="tests/test_probe.py"><failure message="{long}">{long}</failure>'
                "</testcase>"
            )
        report.write("</testsuite></testsuites>")


def test_flood_the_report_at_exit() -> None:
    import atexit

    atexit.register(_flood_the_report)
""".replace("__CASES__", str(REPORT_CASES))

# A file nested too deeply for Python's parser (MemoryError or RecursionError in ast).
NESTING_PROBES = "DEEP = " + "-" * 100_000 + "1\n"

HOSTILE_PROBES = {
    "hostile-nesting": NESTING_PROBES,
    "hostile-report": REPORT_PROBES,
    "hostile-escape": ESCAPE_PROBES,
    "hostile-resources": RESOURCE_PROBES,
    "hostile-sleep": SLEEP_PROBES,
    "hostile-memory": MEMORY_PROBES,
}
# The probes that must fail in a working sandbox, by pytest node id.
EXPECTED_FAILURES = {
    scenario: sorted(
        f"{PROBE_PATH}::{name}"
        for name in re.findall(r"^def (test_\w+)", probes, re.M)
        if name != "test_zz_leave_processes_behind"
    )
    for scenario, probes in HOSTILE_PROBES.items()
}


def probe_file(scenario: str, secrets: dict[str, Any]) -> str:
    """tests/test_probe.py of a hostile scenario, aimed with `secrets`."""
    return PROBE_HEADER.replace("__SECRETS__", repr(secrets)) + HOSTILE_PROBES[scenario]


def spec_for(marker: str | None, iteration: bool = False) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"name": "name", "type": "str", "required": True, "unique": True},
        {"name": "quantity", "type": "int"},
    ]
    entities: list[dict[str, Any]] = [{"name": "Item", "fields": fields}]
    if iteration:
        fields.append({"name": "price", "type": "float"})
        entities.append({"name": "Supplier", "fields": [{"name": "name", "type": "str"}]})
    return {
        "name": PACKAGE,
        "description": "An inventory of items",
        "template": "python-library",
        "entities": entities,
        "operations": ["count items"],
        "notes": [marker] if marker else [],
    }


@dataclass
class Recorded:
    """One request the fake received."""

    kind: str  # spec, spec-repair, plan, plan-repair, file
    body: dict[str, Any]
    authorization: str | None
    marker: str | None
    path: str | None = None
    status: int = 200
    usage: tuple[int, int] = (0, 0)


@dataclass
class StreamState:
    chunks_sent: int = 0
    finished: bool = False
    abandoned: bool = False


@dataclass
class FakeOpenAI:
    requests: list[Recorded] = field(default_factory=list)
    streams: dict[str, StreamState] = field(default_factory=dict)
    # What the hostile scenarios' probes aim at (see probe_file); filled in by the test.
    secrets: dict[str, Any] = field(default_factory=dict)

    def requests_for(self, marker: str, kind: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.marker == marker and kind in (None, r.kind)]

    @property
    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions", response_model=None)
        async def completions(request: Request) -> JSONResponse | StreamingResponse:
            body = await request.json()
            return self.respond(body, request.headers.get("authorization"))

        return app

    # -- deciding the response --------------------------------------------------

    def respond(
        self, body: dict[str, Any], authorization: str | None
    ) -> JSONResponse | StreamingResponse:
        messages: list[dict[str, Any]] = body.get("messages", [])
        text = "\n".join(str(m.get("content", "")) for m in messages)
        found = MARKER.search(text)
        marker, scenario = (found[0], found[1]) if found else (None, "ok")
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        repair = any(m.get("role") == "assistant" for m in messages)
        path_match = PATH_LINE.search(str(messages[-1].get("content", ""))) if messages else None
        if schema == "ProjectSpec":
            kind = "spec-repair" if repair else "spec"
        elif schema == "FilePlan":
            kind = "plan-repair" if repair else "plan"
        else:
            kind = "file"
        recorded = Recorded(
            kind, body, authorization, marker, path_match[1] if path_match else None
        )
        earlier = [r for r in self.requests if r.marker == marker and r.kind == kind]
        self.requests.append(recorded)

        if kind == "spec":
            if scenario == "rate-limit-once" and not earlier:
                return self._error(recorded, 429, "Rate limit reached", "rate_limit_exceeded")
            if scenario == "bad-request":
                return self._error(recorded, 400, "model does not exist", "invalid_request_error")
            if scenario == "malformed-always" or (scenario == "malformed-once" and not earlier):
                return self._reply(recorded, MALFORMED)
            iteration = "current spec is" in text
            content = json.dumps(spec_for(marker, iteration), indent=2)
            if scenario == "slow-stream" and marker:
                return self._slow(recorded, content, marker)
            return self._reply(recorded, content)
        if kind == "spec-repair":
            if scenario == "malformed-always":
                return self._reply(recorded, MALFORMED)
            return self._reply(recorded, json.dumps(spec_for(marker)))
        if kind in ("plan", "plan-repair"):
            if scenario == "unsafe-path":
                return self._reply(recorded, json.dumps(UNSAFE_PLAN))
            if scenario in HOSTILE_PROBES:
                return self._reply(recorded, json.dumps(HOSTILE_PLAN))
            return self._reply(recorded, json.dumps(PLAN))
        if scenario in HOSTILE_PROBES and recorded.path == PROBE_PATH:
            return self._reply(recorded, probe_file(scenario, self.secrets))
        content = FILES.get(recorded.path or "")
        if content is None:
            return self._error(recorded, 400, f"no such file {recorded.path}", "invalid_request")
        return self._reply(recorded, content)

    # -- responses ----------------------------------------------------------------

    def _error(self, recorded: Recorded, status: int, message: str, kind: str) -> JSONResponse:
        recorded.status = status
        error = {"message": message, "type": kind, "param": None, "code": kind}
        return JSONResponse({"error": error}, status_code=status)

    def _usage(self, recorded: Recorded, content: str) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", ""))) for m in recorded.body["messages"]) // 4 + 1
        completion = len(content) // 4 + 1
        recorded.usage = (prompt, completion)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _reply(self, recorded: Recorded, content: str) -> JSONResponse | StreamingResponse:
        body = recorded.body
        usage = self._usage(recorded, content)
        model = str(body.get("model", "fake"))
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        pieces = [content[i : i + CHUNK_CHARS] for i in range(0, len(content), CHUNK_CHARS)]

        async def events() -> AsyncIterator[str]:
            chunk = _Chunks(model)
            yield chunk.delta({"role": "assistant", "content": ""})
            for piece in pieces:
                yield chunk.delta({"content": piece})
            yield chunk.delta({}, finish_reason="stop")
            if include_usage:
                yield chunk.usage(usage)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def _slow(self, recorded: Recorded, content: str, marker: str) -> StreamingResponse:
        """The spec, led by whitespace chunks: one every 0.2 s for 30 s."""
        state = self.streams[marker] = StreamState()
        model = str(recorded.body.get("model", "fake"))
        usage = self._usage(recorded, content)

        async def events() -> AsyncIterator[str]:
            chunk = _Chunks(model)
            try:
                yield chunk.delta({"role": "assistant", "content": ""})
                for _ in range(SLOW_CHUNKS):
                    yield chunk.delta({"content": " "})
                    state.chunks_sent += 1
                    await asyncio.sleep(SLOW_INTERVAL)
                yield chunk.delta({"content": content}, finish_reason="stop")
                yield chunk.usage(usage)
                yield "data: [DONE]\n\n"
                state.finished = True
            finally:
                state.abandoned = not state.finished

        return StreamingResponse(events(), media_type="text/event-stream")


class _Chunks:
    """`chat.completion.chunk` SSE lines of one completion."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())

    def _line(self, choices: list[dict[str, Any]], usage: dict[str, int] | None) -> str:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(chunk)}\n\n"

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return self._line([{"index": 0, "delta": delta, "finish_reason": finish_reason}], None)

    def usage(self, usage: dict[str, int]) -> str:
        return self._line([], usage)
