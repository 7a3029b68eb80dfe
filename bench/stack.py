"""A real `genflow up` in a fresh temporary home on free loopback ports, for
`bench/burst.py` and `bench/chaos.py`.

`Stack` starts it with environment overrides and a worker count (`--workers N` when
`genflow up` has it, otherwise extra `python -m genflow.cli worker` processes that it
supervises itself, as it does extra API processes), finds the pids of each role
(temporal, worker, api) among the children of the `genflow up` pid, SIGKILLs one role
or the whole tree, and restarts on the same home. `tree()` and `pids(role)` are what
`bench/burst_runs.py` counts the CPU time of.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import httpx

from bench.procs import descendants, orphans, reap_orphans, spawn
from bench.workload import JWT_SECRET
from tests.support import alive, children, cmdline, eventually, free_port

BIN = Path(sys.executable).parent


def role_of(command: str) -> str | None:
    """The role (temporal, worker, api) of a process with this command line."""
    if "server start-dev" in command:
        return "temporal"
    if "genflow.cli worker" in command or "worker.py" in command or "genflow worker" in command:
        return "worker"
    if "genflow.cli api" in command or "genflow api" in command:
        return "api"
    return None


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
        self.process = spawn(self.argv, self.env, self.log)

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
        self.process = spawn(argv, self.env, self.logs / "up.log")
        await self._wait_healthy([self.api_url], timeout)
        if not self.extras:
            env = {**self.env, "GENFLOW_HOME": str(self.home)}
            env["TEMPORAL_ADDRESS"] = self.temporal_address
            cli = [sys.executable, "-m", "genflow.cli"]
            workers = 0 if native_workers else self.workers - 1
            self.extras += [
                Extra("worker", [*cli, "worker"], env, self.logs / f"worker-extra-{i}.log")
                for i in range(1, workers + 1)
            ]
            self.extras += [
                Extra(
                    "api", [*cli, "api", "--port", str(port)], env, self.logs / f"api-extra-{i}.log"
                )
                for i, port in enumerate(self.extra_api_ports, 1)
            ]
        for extra in self.extras:
            extra.start()
        await self._wait_healthy(self.api_urls, timeout)
        await self.wait_roles(timeout)
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(self._supervise_extras())

    async def _wait_healthy(self, urls: list[str], timeout: float) -> None:
        """Until each of `urls` answers `GET /healthz` with 200, within `timeout` in all."""
        async with httpx.AsyncClient(timeout=2) as http:

            async def answers(url: str) -> bool:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        f"genflow up exited with {self.process.returncode}; see {self.logs}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get(f"{url}/healthz")).status_code == 200
                return False

            deadline = time.monotonic() + timeout
            for url in urls:
                await eventually(
                    partial(answers, url),
                    max(0.0, deadline - time.monotonic()),
                    0.2,
                    f"{url} to answer; see {self.logs}",
                )

    def _wanted(self) -> dict[str, int]:
        return {"temporal": 1, "worker": self.workers, "api": 1 + len(self.extra_api_ports)}

    async def wait_roles(self, timeout: float = 60.0) -> None:
        """Until every role has its full count of live processes."""
        want = self._wanted()

        def have() -> dict[str, int]:
            return {role: len(self.pids(role)) for role in want}

        await eventually(
            lambda: all(n >= want[role] for role, n in have().items()),
            timeout,
            0.2,
            lambda: f"processes by role {want} (have {have()}); see {self.logs}",
        )

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

    async def wait_alive(self, role: str, timeout: float = 90.0) -> float:
        """Seconds until `role` has a live process (at once if it has one)."""
        started = time.monotonic()
        await eventually(lambda: self.pids(role), timeout, 0.1, f"a live {role} process")
        return time.monotonic() - started

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
