"""The Temporal Web UI served by `genflow up`, looked at in headless Chromium."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from urllib.parse import quote

import httpx

from tests.browser import Browser, required_chromium
from tests.conftest import LIBRARY, eventually
from tests.test_cli import SUITE_WORKER_NICE, listed, reaches, start_up, wait_for_line

# The builtin provider finds no entity in this prompt: schema extraction fails.
NO_ENTITIES = "No entities here."


async def test_web_ui_finds_the_completed_generation_by_its_status(tmp_path: Path) -> None:
    chromium = required_chromium()

    started = await start_up(tmp_path / "home", SUITE_WORKER_NICE)
    up, temporal_port = started.process, started.temporal_port
    browser = Browser(tmp_path / "chromium-profile", chromium)
    try:
        token = (await wait_for_line(up, "Bearer token:")).split()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{started.api_port}", headers=headers, timeout=10
        ) as http:
            done = (await http.post("/v1/generations", json={"prompt": LIBRARY})).json()
            failed = (await http.post("/v1/generations", json={"prompt": NO_ENTITIES})).json()
            await reaches(http, done["id"], "completed")
            await reaches(http, failed["id"], "failed")
        done_id, failed_id = f"gen-{done['id']}", f"gen-{failed['id']}"

        # Temporal's visibility store catches up a moment after the read model.
        async def visible() -> bool:
            completed = await listed(temporal_port, "GenerationStatus='completed'")
            failures = await listed(temporal_port, "GenerationStatus='failed'")
            return completed == [done_id] and failures == [failed_id]

        await eventually(visible, 30, 0.2, "the workflows to reach visibility")

        await browser.start()
        await browser.set_viewport(1600, 900)
        ui = f"http://127.0.0.1:{started.ui_port}/namespaces/default/workflows?query="
        await browser.navigate(ui + quote('GenerationStatus="completed"', safe=""))
        # A SvelteKit app: the list arrives after the page loads.
        text = await browser.wait_for_text(done_id, 'GenerationStatus = "completed"', timeout=60)
        shot = await browser.screenshot(tmp_path / "web-ui.png")

        assert done_id in text
        assert "GenerationWorkflow" in text
        assert "COMPLETED" in text
        assert failed_id not in text, "the query did not filter out the failed generation"
        header = shot.read_bytes()[:8]
        assert header == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000

        # The other way round: the failed one is there for a query that asks for it.
        await browser.navigate(ui + quote('GenerationStatus="failed"', safe=""))
        text = await browser.wait_for_text(failed_id, 'GenerationStatus = "failed"', timeout=60)
        assert done_id not in text
    finally:
        await browser.close()
        if up.returncode is None:
            up.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(up.wait(), 30)
            except TimeoutError:
                up.kill()
                await up.wait()
