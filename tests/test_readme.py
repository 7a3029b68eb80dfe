"""The README as a newcomer reads it: the two commands and "Try it" on the first screen,
and the "Try it" block run as written (only the API and Temporal ports differ) against a
real `genflow up`, after which no log line of `genflow up` is at error level."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import zipfile
from pathlib import Path

import httpx

from tests.conftest import ROOT_DIR
from tests.test_cli import SUITE_WORKER_NICE, start_up, wait_for_line

README = (ROOT_DIR / "README.md").read_text()
# An error-level line of genflow's JSON logs, of Temporal's text log, or asyncio's noise.
ERROR_LINE = re.compile(
    r'"level":\s*"(error|critical)"|\blevel=(error|critical)\b'
    r"|Task was destroyed but it is pending|Traceback",
    re.IGNORECASE,
)


def try_it_block() -> str:
    after = README.split("\n## Try it\n", 1)[1]
    return after.split("```\n", 2)[1]


def test_the_first_screen_holds_the_two_commands_and_try_it() -> None:
    first = "\n".join(README.splitlines()[:60])
    assert "make up" in first and "make test" in first
    assert "## Try it" in first and try_it_block().strip() in first


def error_lines(logs: Path) -> list[str]:
    return [
        f"{log.name}: {line[:300]}"
        for log in sorted(logs.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if ERROR_LINE.search(line)
    ]


async def test_try_it_runs_as_written_and_leaves_no_error_in_the_logs(tmp_path: Path) -> None:
    # "At the repository's root": a directory whose .venv is the repository's, where
    # `make up` keeps its home (.genflow, with the token secret `genflow token` reads).
    root = tmp_path / "checkout"
    root.mkdir()
    (root / ".venv").symlink_to(ROOT_DIR / ".venv")
    home = root / ".genflow"
    # Its worker at the suite's nice (the README's default, +15, leaves it waiting behind
    # the suite's other workers for most of a minute on this 2-core machine).
    up = await start_up(home, SUITE_WORKER_NICE)
    try:
        await wait_for_line(up.process, "Bearer token:")
        api = f"http://127.0.0.1:{up.api_port}"
        async with httpx.AsyncClient(base_url=api) as http:
            assert (await http.get("/healthz")).status_code == 200
        script = try_it_block().replace("127.0.0.1:8000", f"127.0.0.1:{up.api_port}")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GENFLOW_") and k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")
        }
        env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{up.temporal_port}"  # the CLI's own variable
        env["PATH"] = os.pathsep.join(
            p
            for p in env.get("PATH", "").split(os.pathsep)
            if Path(sys.executable).parent != Path(p)
        )  # `genflow` and `temporal` come from the block's own PATH line
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
            cwd=root,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(shell.communicate(), 180)
        text = out.decode()

        assert shell.returncode == 0, err.decode()[-2000:]
        done = [line for line in text.splitlines() if line.startswith("data: {")][-1]
        assert json.loads(done[len("data: ") :])["status"] == "completed", text[-2000:]
        assert "event: done" in text
        with zipfile.ZipFile(root / "library.zip") as archive:
            assert "README.md" in archive.namelist()
        assert "GenerationWorkflow" in text  # the completed one, listed by Temporal
        assert error_lines(home / "logs") == []
    finally:
        up.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(up.process.wait(), 60)
