"""The review's score of each template's project, for the prompts of `bench/owner.py`.

Each project is generated with the builtin language and reviewed as a generation is
(`genflow.pipeline.review.report.review`, in the sandbox); the table gives the score and, where
the review capped it, why. Run it against another checkout's genflow to compare:

    .venv/bin/python -m bench.scores
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/scores.py

(the second form imports genflow from that checkout: its templates and its review).
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

from genflow.pipeline.review.report import review
from genflow.pipeline.sandbox.bubblewrap import Sandbox
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.spec import TEMPLATES, parse_requirements
from genflow.pipeline.templates import render_project

# The prompts of bench/owner.py beside this file, whichever checkout genflow comes from.
_OWNER = importlib.util.spec_from_file_location("owner", Path(__file__).with_name("owner.py"))
assert _OWNER is not None and _OWNER.loader is not None
_owner = importlib.util.module_from_spec(_OWNER)
_OWNER.loader.exec_module(_owner)
PROMPTS: dict[str, str] = _owner.PROMPTS


def _why(report: dict[str, Any]) -> str:
    capped = report.get("capped")
    if capped:
        return "; ".join(capped["because"])
    tests = next((c for c in report["checks"] if c["name"] == "tests"), {})
    return "" if not tests.get("failed") else f"{tests['failed']} test(s) failed"


async def main(checkout: Path) -> None:
    print(f"review scores, genflow from {checkout}")
    print(f"{'template':<16} {'prompt':<8} {'score':>6}  why not 100")
    for template in TEMPLATES:
        for name, prompt in PROMPTS.items():
            files = render_project(parse_requirements(prompt, template=template))
            result = await review(files, SandboxLimits(timeout_seconds=120), sandbox=Sandbox())
            print(f"{template:<16} {name:<8} {result.score:>6.1f}  {_why(result.report)}")


if __name__ == "__main__":
    import genflow

    asyncio.run(main(Path(genflow.__file__).resolve().parents[1]))
