"""The lint check: ruff on a generated project with the project's own configuration,
genflow's rules always selected (genflow's configuration if it ships none; see
genflow.pipeline.review.lint_config)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from genflow.pipeline.review.findings import MESSAGE_LIMIT
from genflow.pipeline.review.lint_config import lint_options
from genflow.pipeline.sandbox.limits import lower_priority

# ruff's default rules (pycodestyle's E4, E7, E9 and pyflakes) with pycodestyle's
# warnings and bugbear: not the line length (E501), as names come from the request.
LINT_RULES = "E4,E7,E9,F,W,B"
LINT_LINE_LENGTH = 100  # when the project ships no ruff configuration
LINT_FAILED = "RUFF"  # the finding's code when ruff cannot lint with the project's configuration


async def run_lint(
    root: Path, timeout: float, options: list[str] | None = None
) -> list[dict[str, Any]]:
    """ruff on the project with its own configuration plus genflow's rules, which it
    cannot switch off (`options`, by default lint_config.lint_options'), at nice
    SANDBOX_NICE, one thread, no cache written into the project. A configuration ruff
    cannot use is one LINT_FAILED finding."""
    ruff = Path(sys.executable).parent / "ruff"
    if options is None:
        options = (await asyncio.to_thread(lint_options, root, LINT_RULES, LINT_LINE_LENGTH))[0]
    command = [
        str(ruff if ruff.exists() else "ruff"),
        "check",
        "--no-cache",
        *options,
        "--output-format",
        "json",
        "--exit-zero",
        ".",
    ]
    process = await asyncio.create_subprocess_exec(
        *lower_priority(command),
        cwd=root,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "RAYON_NUM_THREADS": "1",
        },
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:  # --exit-zero: only an error of ruff's own
        message = "ruff could not lint with the project's configuration"
        return [{"path": "pyproject.toml", "line": 0, "code": LINT_FAILED, "message": message}]
    return await asyncio.to_thread(_lint_findings, output, root)


def _lint_findings(output: bytes, root: Path) -> list[dict[str, Any]]:
    return [
        {
            "path": finding["filename"].removeprefix(str(root) + "/")[:MESSAGE_LIMIT],
            "line": finding["location"]["row"],
            "code": finding["code"],
            "message": finding["message"][:MESSAGE_LIMIT],
        }
        for finding in json.loads(output or b"[]")
    ]
