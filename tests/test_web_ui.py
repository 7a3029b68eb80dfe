"""The Temporal Web UI served by `genflow up`, looked at in headless Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.browser import Browser, chromium_path
from tests.conftest import LIBRARY
from tests.test_cli import listed, start_up, wait_for_line

# The builtin provider finds no entity in this prompt: schema extraction fails.
NO_ENTITIES = "No entities here."


def test_web_ui_finds_the_completed_generation_by_its_status(tmp_path: Path) -> None:
    chromium = chromium_path()
    if chromium is None:
        message = "Chromium is not installed: run `make browser`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    started = start_up(tmp_path / "home")
    up, temporal_port = started.process, started.temporal_port
    browser = Browser(tmp_path / "chromium-profile", chromium)
    try:
        token = wait_for_line(up, "Bearer token:").split()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{started.api_port}", headers=headers, timeout=10
        ) as http:
            done = http.post("/v1/generations", json={"prompt": LIBRARY}).json()
            failed = http.post("/v1/generations", json={"prompt": NO_ENTITIES}).json()
            deadline = time.monotonic() + 60
            for generation, status in ((done, "completed"), (failed, "failed")):
                while http.get(f"/v1/generations/{generation['id']}").json()["status"] != status:
                    assert time.monotonic() < deadline, f"{generation['id']} never {status}"
                    time.sleep(0.2)
        done_id, failed_id = f"gen-{done['id']}", f"gen-{failed['id']}"

        # Temporal's visibility store catches up a moment after the read model.
        deadline = time.monotonic() + 30
        while listed(temporal_port, "GenerationStatus='completed'") != [done_id] or listed(
            temporal_port, "GenerationStatus='failed'"
        ) != [failed_id]:
            assert time.monotonic() < deadline, "the workflows never reached visibility"
            time.sleep(0.2)

        browser.start()
        browser.set_viewport(1600, 900)
        ui = f"http://127.0.0.1:{started.ui_port}/namespaces/default/workflows?query="
        browser.navigate(ui + quote('GenerationStatus="completed"', safe=""))
        # A SvelteKit app: the list arrives after the page loads.
        text = browser.wait_for_text(done_id, 'GenerationStatus = "completed"', timeout=60)
        shot = browser.screenshot(tmp_path / "web-ui.png")

        assert done_id in text
        assert "GenerationWorkflow" in text
        assert "COMPLETED" in text
        assert failed_id not in text, "the query did not filter out the failed generation"
        header = shot.read_bytes()[:8]
        assert header == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000

        # The other way round: the failed one is there for a query that asks for it.
        browser.navigate(ui + quote('GenerationStatus="failed"', safe=""))
        text = browser.wait_for_text(failed_id, 'GenerationStatus = "failed"', timeout=60)
        assert done_id not in text
    finally:
        browser.close()
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
