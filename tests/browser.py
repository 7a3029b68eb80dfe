"""A small Chrome DevTools Protocol client for headless Chromium (Debian's `chromium`).

Not a test: tests use it to look at pages as a person would. Chromium listens on a
loopback port picked by the kernel (`--remote-debugging-port=0`) and writes it to
`DevToolsActivePort` in its profile directory; this client reads it, attaches to
the page target over a WebSocket and sends CDP commands one at a time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    """Debian's chromium, installed by `make browser`; None when it is missing."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium process and a CDP session on its first page."""

    def __init__(self, profile: Path, executable: str = CHROMIUM) -> None:
        self.profile = profile
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self.socket: ClientConnection | None = None
        self.log: BinaryIO | None = None
        self._exits = contextlib.ExitStack()
        self.port = 0
        self._next_id = 0

    def __enter__(self) -> Browser:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self, timeout: float = 30) -> None:
        self.profile.mkdir(parents=True, exist_ok=True)
        log = self.profile.parent / "chromium.log"
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [
                self.executable,
                *FLAGS,
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise CDPError(f"chromium exited with {self.process.returncode}; see {log}")
            lines = active.read_text().split() if active.exists() else []
            if len(lines) >= 2:  # the port, then the browser target's path
                self.port = int(lines[0])
                break
            if time.monotonic() > deadline:
                raise CDPError("chromium did not open its DevTools port")
            time.sleep(0.05)
        while True:
            targets = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=5).json()
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise CDPError(f"chromium has no page target: {targets}")
            time.sleep(0.05)
        self._exits = contextlib.ExitStack()
        self.socket = self._exits.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        )

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """Send one command and return its result; events received meanwhile are dropped."""
        assert self.socket is not None, "the browser is not started"
        self._next_id += 1
        command_id = self._next_id
        self.socket.send(json.dumps({"id": command_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError(f"no answer to {method} in {timeout} s")
            message = json.loads(self.socket.recv(timeout=remaining))
            if message.get("id") != command_id:
                continue
            if "error" in message:
                raise CDPError(f"{method}: {message['error']}")
            return message.get("result", {})

    def set_viewport(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def navigate(self, url: str) -> None:
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self) -> str:
        """What a person reads on the page: `document.body.innerText`."""
        value = self.evaluate("document.body ? document.body.innerText : ''")
        return str(value or "")

    def wait_for_text(self, *needles: str, timeout: float = 60) -> str:
        """Poll the page text until it contains every needle; return that text."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                text = self.text()
            except CDPError:  # the document was replaced mid-evaluation; ask again
                text = ""
            if all(needle in text for needle in needles):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never showed {needles}; it showed:\n{text}")
            time.sleep(0.25)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the browser and end its process group (renderers, zygotes and all)."""
        if self.socket is not None:
            with contextlib.suppress(Exception):
                self.send("Browser.close", timeout=5)
            self.socket = None
            with contextlib.suppress(Exception):
                self._exits.close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            # Chromium's helpers share the session it was started in, led by its pid.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None
