"""The builtin language's time to read the longest allowed prompt (20,000 characters) of
each sentence shape: for each shape's opening words, the slowest of the repeated units of
tests/test_language_hostile.py, as a first generation and as an iteration. Budget: under
0.5 s each (CPU time of this process).

    .venv/bin/python -m bench.language
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from genflow.pipeline.spec import BadRequirements, extend_requirements, parse_requirements
from tests.test_language_hostile import BASE, HEADS, UNITS, longest

BUDGET_SECONDS = 0.5


def cpu_seconds(prompt: str, iteration: bool) -> float:
    started = time.process_time()
    try:
        if iteration:
            extend_requirements(BASE, prompt, None)
        else:
            parse_requirements(prompt)
    except BadRequirements:
        pass
    return time.process_time() - started


def main() -> int:
    print(f"genflow builtin language benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("  command: .venv/bin/python -m bench.language")
    print(f"  each shape x {len(UNITS)} repeated units, 20,000 characters, first and iteration")
    worst_overall = 0.0
    for head in HEADS:
        times = [
            (cpu_seconds(longest(head, unit), iteration), unit, iteration)
            for unit in UNITS
            for iteration in (False, True)
        ]
        worst, unit, iteration = max(times)
        worst_overall = max(worst_overall, worst)
        kind = "iteration" if iteration else "first"
        print(f"  {head or '(none)':<22} slowest {worst:.3f} s  ({unit!r}, {kind})")
    met = worst_overall < BUDGET_SECONDS
    verdict = "met" if met else "NOT MET"
    print(f"  slowest of all: {worst_overall:.3f} s; budget < {BUDGET_SECONDS} s: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
