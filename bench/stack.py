"""Shared helpers of `bench/burst.py` and `bench/chaos.py`: a real `genflow up` in a
fresh temporary home, its process tree read from /proc, an HTTP client that retries
the way a careful API client does, and a checker that compares every generation's
row with its Temporal workflow.

- `Stack` starts `genflow up` on free loopback ports with environment overrides and a
  worker count (`--workers N` when `genflow up` has it, otherwise extra
  `python -m genflow.cli worker` processes that this module supervises itself), finds
  the pids of each role (temporal, worker, api) among the children of the `genflow up`
  pid, SIGKILLs one role or the whole tree, restarts on the same home, and sums the
  CPU time of the whole tree (live processes plus what they reaped, plus the orphans
  this process inherits as their subreaper: bubblewrap does not reap its sandbox's
  init, so finished sandboxed test runs count only that way).
- `GenflowHttp` creates generations, retrying connection errors, 503, 429 and (with an
  Idempotency-Key) 409 and 500, honoring Retry-After, and counts every HTTP status.
- `check` reads each generation through the API, the read model (tables
  `generations`, `generation_events`, `artifacts`, `idempotency_keys`) and Temporal
  (`describe()` of `gen-<id>` and a visibility list), and counts lost, duplicated and
  disagreeing generations.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from genflow.auth import issue_token
from genflow.db.engine import make_engine
from genflow.db.models import Artifact, Event, Generation, IdempotencyKey

BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_HOST, PG_PORT, PG_ADMIN_DB = "127.0.0.1", 5432, "test"
JWT_SECRET = "genflow-bench-secret-" + "x" * 24
TERMINAL = ("completed", "failed", "cancelled")
ACTIVE = ("pending", "processing", "awaiting_approval", "cancelling")

# A varied set of valid requirements in the builtin language, over the three templates.
MIX: list[dict[str, str]] = [
    {
        "prompt": "A library service. Book has title (text, required), author (text), year "
        "(integer) and isbn (text, unique). Member has name (text, required) and email (text, "
        "unique). Loan has due_on (date, required) and returned (boolean).",
        "template": "python-library",
    },
    {
        "prompt": "An online shop. Customer has name (text, required), email (text, unique) "
        "and tier (one of basic/gold). Product has title (text, required), price (decimal, "
        "required), stock (integer) and released_on (date). An order links a customer to a "
        "product with quantity (integer, required), placed_at (datetime) and paid (boolean).",
        "template": "fastapi-service",
    },
    {
        "prompt": "A task tracker. Task has title (text, required), done (boolean) and due_on "
        "(date). Tag has name (text, unique).",
        "template": "cli-tool",
    },
    {
        "prompt": "A recipe book. Recipe has name (text, required), servings (integer) and "
        "vegetarian (boolean). Ingredient has name (text, required) and unit (one of "
        "g/ml/piece).",
        "template": "python-library",
    },
    {
        "prompt": "A gym. Member has name (text, required), email (text, unique) and plan (one "
        "of monthly/yearly). Session has starts_at (datetime, required) and capacity "
        "(integer). A booking links a member to a session.",
        "template": "fastapi-service",
    },
    {
        "prompt": "An expense log. Expense has amount (decimal, required), spent_on (date, "
        "required), category (one of food/travel/other) and note (text).",
        "template": "cli-tool",
    },
]


def body(i: int) -> dict[str, str]:
    """The i-th request body of the mix."""
    return dict(MIX[i % len(MIX)])


def cores() -> int:
    return len(os.sched_getaffinity(0))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def token(user: str) -> str:
    return issue_token(user, JWT_SECRET, 24 * 3600)


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- /proc ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's children), from /proc."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid` (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


def process_cpu_split(pid: int) -> tuple[float, float]:
    """(utime + stime, cutime + cstime) of `pid`: its own CPU and its reaped children's."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    fields = [int(v) for v in stat[stat.rfind(")") + 2 :].split()[11:15]]
    return (fields[0] + fields[1]) / CLK_TCK, (fields[2] + fields[3]) / CLK_TCK


def role_of(command: str) -> str | None:
    if "server start-dev" in command:
        return "temporal"
    if "genflow.cli worker" in command or "worker.py" in command or "genflow worker" in command:
        return "worker"
    if "genflow.cli api" in command or "genflow api" in command:
        return "api"
    return None


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_SPAWNED: set[int] = set()  # the children this process started itself
_ORPHAN_CPU = [0.0]  # CPU seconds of the orphans reaped so far


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a child of this process (from the main thread: the PDEATHSIG that ends it
    with this process fires when the thread that forked it ends)."""
    _become_subreaper()
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    _SPAWNED.add(process.pid)
    return process


@cache
def _become_subreaper() -> None:
    """Make this process the child subreaper of everything it starts. bubblewrap (the
    sandbox of the generated tests) exits without reaping its PID-namespace init, so
    the tests' CPU time never reaches the worker's cutime; as a subreaper this process
    inherits such orphans, and `orphans()` / `reap_orphans()` count their CPU."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def orphans() -> list[int]:
    """Children of this process it did not start: orphans of the stacks' trees."""
    return [p for p in children(os.getpid()) if p not in _SPAWNED]


def reap_orphans() -> None:
    """Reap the orphans that exited, adding their CPU (own and reaped) to the total."""
    for pid in orphans():
        if alive(pid):
            continue
        cpu = process_cpu_seconds(pid)
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                _ORPHAN_CPU[0] += cpu


def orphan_cpu_seconds() -> float:
    """CPU of every orphan so far: the reaped ones and the live ones (with their trees)."""
    reap_orphans()
    live = sum(process_cpu_seconds(q) for p in orphans() for q in [p, *descendants(p)])
    return _ORPHAN_CPU[0] + live


@cache
def up_has_workers_flag() -> bool:
    """Whether `genflow up` takes `--workers N` (else extra workers are started here)."""
    out = subprocess.run(
        [str(BIN / "genflow"), "up", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        check=False,
    ).stdout
    return "--workers" in out


# -- PostgreSQL -------------------------------------------------------------------------


async def create_database(prefix: str = "genflow_bench") -> str:
    """A fresh database on the local PostgreSQL; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=PG_ADMIN_DB)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=PG_ADMIN_DB)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str, port: int = PG_PORT) -> str:
    return f"postgresql://postgres@{PG_HOST}:{port}/{name}"


def async_url(url: str) -> str:
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


# -- the stack --------------------------------------------------------------------------


@dataclass
class Extra:
    """A worker or API process this module runs beside `genflow up` (and restarts)."""

    role: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.process = _spawn(self.argv, self.env, self.log)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid


class Stack:
    """`genflow up` in a temporary home on free loopback ports.

    `env` overrides the environment (DATABASE_URL, GENFLOW_*); DATABASE_URL,
    TEMPORAL_ADDRESS and GENFLOW_* of this process are not inherited. `extra_apis`
    API processes are started beside the one of `genflow up` (`api_urls[1:]`).
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        workers: int = 1,
        extra_apis: int = 0,
        home: Path | None = None,
        keep: bool = False,
    ) -> None:
        self.home = home or Path(tempfile.mkdtemp(prefix="genflow-bench-"))
        self.keep = keep
        self.workers = workers
        self.api_port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        self.extra_api_ports = [free_port() for _ in range(extra_apis)]
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS") and not k.startswith("GENFLOW_")
        }
        self.env = {**base, "GENFLOW_JWT_SECRET": JWT_SECRET, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.extras: list[Extra] = []
        self._supervisor: asyncio.Task[None] | None = None
        self.started_at = 0.0

    # addresses
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def api_urls(self) -> list[str]:
        return [self.api_url] + [f"http://127.0.0.1:{p}" for p in self.extra_api_ports]

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def database_url(self) -> str:
        """The read model's URL as genflow sees it (SQLite in the home by default)."""
        return self.env.get("DATABASE_URL") or f"sqlite:///{(self.home / 'genflow.db').resolve()}"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    # lifecycle
    async def start(self, timeout: float = 120.0) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        argv = [
            str(BIN / "genflow"),
            "up",
            "--home",
            str(self.home),
            "--api-port",
            str(self.api_port),
            "--temporal-port",
            str(self.temporal_port),
            "--ui-port",
            str(self.ui_port),
        ]
        native_workers = self.workers > 1 and up_has_workers_flag()
        if native_workers:
            argv += ["--workers", str(self.workers)]
        self.process = _spawn(argv, self.env, self.logs / "up.log")
        self.started_at = time.monotonic()
        await self._wait_healthy([self.api_url], timeout)
        if not self.extras:
            child_env = {
                **self.env,
                "GENFLOW_HOME": str(self.home),
                "TEMPORAL_ADDRESS": self.temporal_address,
            }
            python = sys.executable
            extra_workers = 0 if native_workers else self.workers - 1
            for i in range(extra_workers):
                self.extras.append(
                    Extra(
                        "worker",
                        [python, "-m", "genflow.cli", "worker"],
                        child_env,
                        self.logs / f"worker-extra-{i + 1}.log",
                    )
                )
            for i, port in enumerate(self.extra_api_ports):
                self.extras.append(
                    Extra(
                        "api",
                        [python, "-m", "genflow.cli", "api", "--port", str(port)],
                        child_env,
                        self.logs / f"api-extra-{i + 1}.log",
                    )
                )
        for extra in self.extras:
            extra.start()
        await self._wait_healthy(self.api_urls, timeout)
        await self.wait_roles(timeout)
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(self._supervise_extras())

    async def _wait_healthy(self, urls: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            for url in urls:
                while True:
                    if self.process is not None and self.process.poll() is not None:
                        raise RuntimeError(
                            f"genflow up exited with {self.process.returncode}; see {self.logs}"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{url}/healthz")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{url} did not answer; see {self.logs}")
                    await asyncio.sleep(0.2)

    async def wait_roles(self, timeout: float = 60.0) -> None:
        """Until every role has its full count of live processes."""
        deadline = time.monotonic() + timeout
        want = {"temporal": 1, "worker": self.workers, "api": 1 + len(self.extra_api_ports)}
        while True:
            have = {role: len(self.pids(role)) for role in want}
            if all(have[r] >= n for r, n in want.items()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes by role {have}, wanted {want}; see {self.logs}")
            await asyncio.sleep(0.2)

    async def _supervise_extras(self) -> None:
        """Restart dead extra processes after 0.5 s, like `genflow up` does its own, and
        reap orphans."""
        while True:
            await asyncio.sleep(0.5)
            reap_orphans()
            if self.process is None or self.process.poll() is not None:
                continue  # the whole stack is down (killed); restart() brings them back
            for extra in self.extras:
                if extra.process is not None and extra.process.poll() is not None:
                    extra.restarts += 1
                    extra.start()

    def tree(self) -> list[int]:
        """Every live process of the stack: `genflow up`, its descendants, the extras
        and theirs (not the orphans, see `orphans()`)."""
        pids: list[int] = []
        roots = [self.process.pid] if self.process is not None else []
        roots += [e.pid for e in self.extras if e.pid is not None]
        for root in roots:
            if alive(root):
                pids.append(root)
                pids += descendants(root)
        return pids

    def pids(self, role: str) -> list[int]:
        """Live processes of `role` (temporal, worker, api): children of `genflow up`
        and this module's extras."""
        found: list[int] = []
        if self.process is not None:
            found += [p for p in children(self.process.pid) if role_of(cmdline(p)) == role]
        found += [
            e.pid
            for e in self.extras
            if e.role == role and e.pid is not None and e.process and e.process.poll() is None
        ]
        return [p for p in found if alive(p)]

    def cpu_seconds(self) -> float:
        """CPU time of the whole tree so far: each live process's own plus that of the
        children it reaped, plus the orphans this process inherited (the sandboxed test
        runs under bubblewrap, see `_become_subreaper`)."""
        return sum(process_cpu_seconds(p) for p in self.tree()) + orphan_cpu_seconds()

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds so far per role: `worker` is the worker processes' own time;
        `sandbox` what they spawned (lint, tests: live descendants, reaped children and
        orphans); `api`, `temporal` their whole trees; `other` the rest (`genflow up`
        itself, and what it reaped)."""
        out = dict.fromkeys(("temporal", "worker", "sandbox", "api", "other"), 0.0)
        counted: set[int] = set()
        for role in ("temporal", "worker", "api"):
            for pid in self.pids(role):
                counted.add(pid)
                own, reaped = process_cpu_split(pid)
                out[role] += own
                out["sandbox" if role == "worker" else role] += reaped
                for p in descendants(pid):
                    counted.add(p)
                    out["sandbox" if role == "worker" else role] += process_cpu_seconds(p)
        out["sandbox"] += orphan_cpu_seconds()
        out["other"] = sum(process_cpu_seconds(p) for p in self.tree() if p not in counted)
        return out

    def kill(self, role: str, pid: int | None = None) -> int | None:
        """SIGKILL one process of `role` (a random one, or `pid`); its pid, or None."""
        candidates = self.pids(role)
        if pid is None and not candidates:
            return None
        victim = pid if pid is not None else random.choice(candidates)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        # Until it is gone (a zombie at most), so it is not counted alive again.
        deadline = time.monotonic() + 2
        while alive(victim) and time.monotonic() < deadline:
            time.sleep(0.005)
        return victim

    async def wait_replaced(self, role: str, gone: int, timeout: float = 90.0) -> float:
        """Seconds until `role` has its full count again without `gone`."""
        started = time.monotonic()
        want = {"temporal": 1, "worker": self.workers, "api": 1 + len(self.extra_api_ports)}[role]
        while True:
            live = [p for p in self.pids(role) if p != gone]
            if len(live) >= want:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{role} was not restarted within {timeout} s")
            await asyncio.sleep(0.1)

    def kill_all(self) -> None:
        """SIGKILL the whole tree, `genflow up` included (stopped first so it restarts
        nothing and its children get no PDEATHSIG before their own SIGKILL)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGSTOP)
        for _ in range(3):
            for pid in reversed(self.tree() + orphans()):
                if pid != self.process.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for extra in self.extras:
            if extra.process is not None:
                extra.process.wait()

    async def restart(self, timeout: float = 120.0) -> None:
        """`genflow up` again on the same home and ports (after kill_all)."""
        await self.start(timeout)

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        for extra in self.extras:
            if extra.process is not None and extra.process.poll() is None:
                extra.process.terminate()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 45)
            except subprocess.TimeoutExpired:
                self.kill_all()
        for extra in self.extras:
            if extra.process is not None:
                try:
                    await asyncio.to_thread(extra.process.wait, 15)
                except subprocess.TimeoutExpired:
                    extra.process.kill()
                    extra.process.wait()

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)

    def log_lines(self, pattern: str, files: Iterable[str] = ("worker", "api", "up")) -> list[str]:
        """Lines of the stack's logs containing `pattern` (evidence for a report)."""
        out: list[str] = []
        for log in sorted(self.logs.glob("*.log")):
            if any(log.name.startswith(f) for f in files):
                with log.open(errors="replace") as lines:
                    out += [f"{log.name}: {line.rstrip()}" for line in lines if pattern in line]
        return out


# -- HTTP -------------------------------------------------------------------------------


@dataclass
class HttpStats:
    """Every HTTP answer and connection failure seen by the clients."""

    codes: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    ambiguous_errors: int = 0
    retries: int = 0

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.codes.items()))
        return (
            f"HTTP {codes or 'none'}; connection errors {self.connection_errors} "
            f"(after sending: {self.ambiguous_errors}); retries {self.retries}"
        )


@dataclass
class Created:
    """One logical create request and what became of it."""

    index: int
    key: str | None
    user: str
    api: int
    sent_at: float = 0.0  # time.time() of the first attempt
    latency: float = math.nan  # first attempt to the accepted answer, retries included
    attempts: int = 0
    id: str | None = None
    error: str | None = None
    operator: str | None = None  # what an operator did to its workflow (chaos: operator)


def _retry_after(response: httpx.Response, default: float = 1.0) -> float:
    try:
        return min(10.0, max(0.05, float(response.headers.get("retry-after", default))))
    except ValueError:
        return default


class GenflowHttp:
    """One user's client over one or more API base URLs."""

    def __init__(
        self, base_urls: list[str], user: str, stats: HttpStats, timeout: float = 30.0
    ) -> None:
        self.user = user
        self.stats = stats
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        self.clients = [
            httpx.AsyncClient(
                base_url=url,
                headers={"Authorization": f"Bearer {token(user)}"},
                timeout=timeout,
                limits=limits,
            )
            for url in base_urls
        ]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def create(
        self,
        request: dict[str, Any],
        created: Created,
        give_up_after: float = 300.0,
    ) -> Created:
        """POST /v1/generations until accepted: connection errors before sending are
        retried always; after sending, and 409/500, only under an Idempotency-Key;
        503/429 after their Retry-After."""
        http = self.clients[created.api % len(self.clients)]
        headers = {"Idempotency-Key": created.key} if created.key else {}
        created.sent_at = time.time()
        started = time.perf_counter()
        while True:
            created.attempts += 1
            if created.attempts > 1:
                self.stats.retries += 1
            wait = 0.2
            try:
                response = await http.post("/v1/generations", json=request, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
                self.stats.connection_errors += 1
                created.error = f"{type(err).__name__}"
            except httpx.TransportError as err:
                self.stats.connection_errors += 1
                self.stats.ambiguous_errors += 1
                created.error = f"{type(err).__name__} after sending"
                if not created.key:
                    return created  # maybe created, maybe not: not safe to repeat
            else:
                code = response.status_code
                self.stats.codes[code] += 1
                if 200 <= code < 300:
                    created.id = str(response.json()["id"])
                    created.latency = time.perf_counter() - started
                    created.error = None
                    return created
                created.error = f"HTTP {code}: {response.text[:200]}"
                if code in (429, 503) or (code in (409, 500, 502, 504) and created.key):
                    wait = _retry_after(response)
                else:
                    return created
            if time.perf_counter() - started > give_up_after:
                return created
            await asyncio.sleep(wait * random.uniform(0.8, 1.2))

    async def get(self, generation_id: str, api: int = 0, give_up_after: float = 60.0) -> Any:
        """GET one generation (None: 404), retrying connection errors and 5xx."""
        http = self.clients[api % len(self.clients)]
        deadline = time.monotonic() + give_up_after
        while True:
            try:
                response = await http.get(f"/v1/generations/{generation_id}")
            except httpx.TransportError:
                self.stats.connection_errors += 1
            else:
                self.stats.codes[response.status_code] += 1
                if response.status_code == 200:
                    return response.json()
                if response.status_code == 404:
                    return None
            if time.monotonic() > deadline:
                raise RuntimeError(f"GET {generation_id} kept failing")
            await asyncio.sleep(0.5)

    async def wait_terminal(
        self,
        ids: Iterable[str],
        since: datetime,
        timeout: float,
        interval: float = 1.0,
        stall: float | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Poll the list of this user's finished generations (created after `since`)
        until every one of `ids` is in it, `timeout` passes, or (with `stall`) none
        finished for `stall` seconds; errors just skip a round."""
        outstanding = set(ids)
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        progress = time.monotonic()
        round_ = 0
        params: list[tuple[str, str | int | float | bool | None]]
        params = [("status", s) for s in TERMINAL]
        params += [("created_after", since.isoformat()), ("limit", "100")]
        while outstanding and time.monotonic() < deadline:
            http = self.clients[round_ % len(self.clients)]
            round_ += 1
            cursor: str | None = None
            try:
                while True:
                    page = params + ([("cursor", cursor)] if cursor else [])
                    response = await http.get("/v1/generations", params=page)
                    self.stats.codes[response.status_code] += 1
                    if response.status_code != 200:
                        break
                    data = response.json()
                    for item in data["items"]:
                        if item["id"] in outstanding:
                            outstanding.discard(item["id"])
                            found[item["id"]] = item
                            progress = time.monotonic()
                    cursor = data.get("next_cursor")
                    if not cursor or not outstanding:
                        break
            except httpx.TransportError:
                self.stats.connection_errors += 1
            if stall is not None and time.monotonic() - progress > stall:
                break
            if outstanding:
                await asyncio.sleep(interval)
        return found


# -- the checker ------------------------------------------------------------------------

EXPECTED_WORKFLOW = {
    "completed": {WorkflowExecutionStatus.COMPLETED},
    "failed": {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
    },
    "cancelled": {WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED},
    **{status: {WorkflowExecutionStatus.RUNNING} for status in ACTIVE},
}


@dataclass
class CheckResult:
    requests: int = 0
    created: int = 0
    completed: int = 0
    failed: int = 0
    other: int = 0  # not finished
    cancelled: int = 0
    lost: int = 0
    duplicated: int = 0
    disagreements: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    completed_at: list[float] = field(default_factory=list)  # epoch seconds
    problems: list[str] = field(default_factory=list)


async def _check_once(
    requests: Sequence[Created],
    https: dict[str, GenflowHttp],
    database_url: str,
    temporal: Client,
    check_temporal: bool,
    allowed_runs: dict[str, int],
) -> CheckResult:
    result = CheckResult(requests=len(requests))
    users = sorted({r.user for r in requests})
    ids = {r.id for r in requests if r.id is not None}
    result.created = len(ids)

    # The read model, directly.
    engine = make_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            rows = {
                str(row.id): row
                for row in await conn.execute(
                    select(
                        Generation.id,
                        Generation.user_id,
                        Generation.status,
                        Generation.error_code,
                        Generation.completed_at,
                    ).where(Generation.user_id.in_(users))
                )
            }
            keys = {
                (row.user_id, row.key): str(row.generation_id)
                for row in await conn.execute(
                    select(
                        IdempotencyKey.user_id, IdempotencyKey.key, IdempotencyKey.generation_id
                    ).where(IdempotencyKey.user_id.in_(users))
                )
            }
            row_ids = [uuid.UUID(i) for i in rows]
            duplicate_paths = list(
                await conn.execute(
                    select(Artifact.generation_id, Artifact.path, func.count())
                    .where(Artifact.generation_id.in_(row_ids))
                    .group_by(Artifact.generation_id, Artifact.path)
                    .having(func.count() > 1)
                )
            )
            events = list(
                await conn.execute(
                    select(Event.generation_id, Event.event, Event.data).where(
                        Event.generation_id.in_(row_ids), Event.event.in_(["stage", "done"])
                    )
                )
            )
    finally:
        await engine.dispose()

    dup_ids: set[str] = set()
    for artifact_gen, path, n in duplicate_paths:
        dup_ids.add(str(artifact_gen))
        result.problems.append(f"{artifact_gen}: artifact {path} stored {n} times")
    per_stage: Counter[tuple[str, str]] = Counter()
    done: Counter[str] = Counter()
    for event_gen, kind, data in events:
        if kind == "done":
            done[str(event_gen)] += 1
        elif isinstance(data, dict) and data.get("status") == "completed":
            per_stage[(str(event_gen), str(data.get("stage")))] += 1
    # A run of its own (an operator's Reset) writes its own events: one set per run.
    for (gid, stage), n in per_stage.items():
        if n > 1 + allowed_runs.get(gid, 0):
            dup_ids.add(gid)
            result.problems.append(f"{gid}: {n} stage-completed events for {stage}")
    for gid, n in done.items():
        if n > 1 + allowed_runs.get(gid, 0):
            dup_ids.add(gid)
            result.problems.append(f"{gid}: {n} done events")

    # Logical requests: each must have exactly one generation.
    for r in requests:
        if r.id is None:
            result.lost += 1
            result.problems.append(f"request {r.index} ({r.key}) got no generation: {r.error}")
            continue
        if r.id not in rows:
            result.lost += 1
            result.problems.append(f"request {r.index}: generation {r.id} has no row")
        if r.key is not None:
            owner = keys.get((r.user, r.key))
            if owner is not None and owner != r.id:
                dup_ids.add(r.id)
                result.problems.append(f"key {r.key}: client got {r.id}, the key holds {owner}")
    for gid in rows:
        if gid not in ids:
            dup_ids.add(gid)
            result.problems.append(f"generation {gid} belongs to no request (a duplicate)")

    # Each generation through the API, beside its row.
    sem = asyncio.Semaphore(16)

    async def through_api(r: Created) -> tuple[str, Any]:
        assert r.id is not None
        async with sem:
            return r.id, await https[r.user].get(r.id, api=r.index)

    api_rows = dict(await asyncio.gather(*(through_api(r) for r in requests if r.id is not None)))

    for gid in ids:
        row = rows.get(gid)
        seen = api_rows.get(gid)
        if row is None:
            continue
        if seen is None or seen["status"] != row.status:
            result.disagreements += 1
            shown = seen["status"] if seen else "404"
            result.problems.append(f"{gid}: API says {shown}, the read model {row.status}")
        if row.status == "completed":
            result.completed += 1
            if row.completed_at is not None:
                result.completed_at.append(row.completed_at.timestamp())
        elif row.status == "failed":
            result.failed += 1
            result.failures[row.error_code or "?"] += 1
        elif row.status == "cancelled":
            result.cancelled += 1
        else:
            result.other += 1

    # Temporal: every row's workflow in the matching state; no workflow without a row;
    # one run per workflow id.
    if check_temporal:

        async def describe(gid: str) -> tuple[str, WorkflowExecutionStatus | None]:
            async with sem:
                try:
                    desc = await temporal.get_workflow_handle(f"gen-{gid}").describe()
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        return gid, None
                    raise
                return gid, desc.status

        described = dict(await asyncio.gather(*(describe(g) for g in rows)))
        for gid, row in rows.items():
            status = described.get(gid)
            if status is None or status not in EXPECTED_WORKFLOW.get(row.status, set()):
                result.disagreements += 1
                shown = status.name if status else "no workflow"
                result.problems.append(f"{gid}: row {row.status}, workflow {shown}")
        runs: Counter[str] = Counter()
        quoted = ", ".join(f"'{u}'" for u in users)
        query = f"WorkflowType = 'GenerationWorkflow' AND UserId IN ({quoted})"
        async for execution in temporal.list_workflows(query):
            runs[execution.id.removeprefix("gen-")] += 1
        for gid, n in runs.items():
            if gid not in rows:
                result.lost += 1
                result.problems.append(f"workflow gen-{gid} has no row")
            if n > 1 + allowed_runs.get(gid, 0):
                dup_ids.add(gid)
                result.problems.append(f"workflow gen-{gid} ran {n} times")

    result.duplicated = len(dup_ids)
    return result


async def check(
    requests: Sequence[Created],
    https: dict[str, GenflowHttp],
    database_url: str,
    temporal_address: str,
    settle: float = 30.0,
    check_temporal: bool = True,
    allowed_runs: dict[str, int] | None = None,
) -> CheckResult:
    """Compare every generation of `requests` across the API, the read model at
    `database_url` and Temporal; re-check for up to `settle` seconds while they
    disagree (the read model follows a workflow's close within seconds)."""
    temporal = await Client.connect(temporal_address)
    deadline = time.monotonic() + settle
    while True:
        result = await _check_once(
            requests, https, database_url, temporal, check_temporal, allowed_runs or {}
        )
        if (result.disagreements == 0 and result.lost == 0) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(2)


def recovery_times(faults: Sequence[float], completions: Sequence[float]) -> list[float | None]:
    """For each fault (epoch seconds), seconds until the first completion after it."""
    ordered = sorted(completions)
    out: list[float | None] = []
    for fault in faults:
        after = next((c for c in ordered if c > fault), None)
        out.append(None if after is None else after - fault)
    return out


def first_problems(problems: Sequence[str], limit: int = 8) -> list[str]:
    grouped: dict[str, int] = defaultdict(int)
    out: list[str] = []
    for problem in problems:
        grouped[problem] += 1
        if grouped[problem] == 1 and len(out) < limit:
            out.append(problem)
    if len(problems) > len(out):
        out.append(f"... and {len(problems) - len(out)} more")
    return out
