"""A small Chrome DevTools Protocol client for headless Chromium (Debian's `chromium`).

Not a test: tests use it to look at pages as a person would. Chromium listens on a
loopback port picked by the kernel (`--remote-debugging-port=0`) and writes it to
`DevToolsActivePort` in its profile directory; this client reads it, attaches to
the page target over a WebSocket and sends CDP commands one at a time. It is async,
so its waits are `eventually()` like every other test's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import eventually

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    """Debian's chromium, installed by `make browser`; None when it is missing."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def required_chromium() -> str:
    """Chromium's path; the test is skipped without it, and fails in CI (where `make
    test` installs it, so its absence is a broken set-up, not a missing option)."""
    chromium = chromium_path()
    if chromium is None:
        message = "Chromium is not installed: run `make browser`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return chromium


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium process and a CDP session on its first page."""

    def __init__(self, profile: Path, executable: str = CHROMIUM) -> None:
        self.profile = profile
        self.executable = executable
        self.process: asyncio.subprocess.Process | None = None
        self.socket: ClientConnection | None = None
        self.log: BinaryIO | None = None
        self.port = 0
        self._next_id = 0

    async def __aenter__(self) -> Browser:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def start(self, timeout: float = 30) -> None:
        self.profile.mkdir(parents=True, exist_ok=True)
        log = self.profile.parent / "chromium.log"
        self.log = log.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            self.executable,
            *FLAGS,
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}",
            "about:blank",
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = self.process
        active = self.profile / "DevToolsActivePort"

        def port() -> int | None:
            if process.returncode is not None:
                raise CDPError(f"chromium exited with {process.returncode}; see {log}")
            lines = active.read_text().split() if active.exists() else []
            # The port, then the browser target's path: both written means it listens.
            return int(lines[0]) if len(lines) >= 2 else None

        self.port = await eventually(port, timeout, what="chromium to open its DevTools port")
        async with httpx.AsyncClient(timeout=5) as http:

            async def page() -> dict[str, Any] | None:
                targets = (await http.get(f"http://127.0.0.1:{self.port}/json/list")).json()
                return next((t for t in targets if t.get("type") == "page"), None)

            target = await eventually(page, timeout, what="chromium's page target")
        self.socket = await connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 30
    ) -> Any:
        """Send one command and return its result; events received meanwhile go to
        `on_event`."""
        assert self.socket is not None, "the browser is not started"
        self._next_id += 1
        command_id = self._next_id
        await self.socket.send(
            json.dumps({"id": command_id, "method": method, "params": params or {}})
        )
        try:
            async with asyncio.timeout(timeout):
                while (message := json.loads(await self.socket.recv())).get("id") != command_id:
                    if "method" in message:  # else the answer to an abandoned command
                        self.on_event(message)
        except TimeoutError:
            raise CDPError(f"no answer to {method} in {timeout:g} s") from None
        if "error" in message:
            raise CDPError(f"{method}: {message['error']}")
        return message.get("result", {})

    def on_event(self, event: dict[str, Any]) -> None:
        """A CDP event read while waiting for an answer: dropped here."""

    async def set_viewport(self, width: int, height: int) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    async def navigate(self, url: str) -> None:
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def text(self) -> str:
        """What a person reads on the page: `document.body.innerText`."""
        value = await self.evaluate("document.body ? document.body.innerText : ''")
        return str(value or "")

    async def wait_for_text(self, *needles: str, timeout: float = 60) -> str:
        """Poll the page text until it contains every needle; return that text."""
        last = ""

        async def showing() -> str | None:
            nonlocal last
            try:
                last = await self.text()
            except CDPError:  # the document was replaced mid-evaluation; ask again
                last = ""
            return last if all(needle in last for needle in needles) else None

        found: str = await eventually(
            showing, timeout, 0.25, lambda: f"the page to show {needles}; it showed:\n{last}"
        )
        return found

    async def screenshot(self, path: Path) -> Path:
        data = (await self.send("Page.captureScreenshot", {"format": "png"}))["data"]
        await asyncio.to_thread(path.write_bytes, base64.b64decode(data))
        return path

    async def close(self) -> None:
        """Close the browser and end its process group (renderers, zygotes and all)."""
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.send("Browser.close", timeout=5)
            with contextlib.suppress(Exception):
                await self.socket.close()
            self.socket = None
        if self.process is not None:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.terminate()
                try:
                    await asyncio.wait_for(self.process.wait(), 10)
                except TimeoutError:
                    self.process.kill()
                    await self.process.wait()
            # Chromium's helpers share the session it was started in, led by its pid.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None
