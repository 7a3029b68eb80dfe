"""The owner's experience of a generated project: what its new owner does on day one.

For each template and each prompt (the README's library prompt and three of this
script's own, which appear in no issue) the project is generated with the builtin
provider, then handled as its owner would:

1. a fresh virtual environment (`python3 -m venv`, nothing of genflow's in it);
2. the generated README's own install command (`pip install -e '.[test]'`, from the
   package registry: this needs the network, so it is a bench and not a test);
3. `pytest` in that environment, then `ruff check .` with the project's own
   configuration (the ruff genflow installs; the project pins none).

Each step is green or the script says which failed and prints its output's end; the exit
status is the number of projects with a red step. Run it from the project root:

    .venv/bin/python -m bench.owner [--template T ...] [--keep]

`--keep` leaves the projects and their environments in a temporary directory it names.
Expect about a minute per project (mostly pip).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genflow.pipeline.spec import TEMPLATES, parse_requirements
from genflow.pipeline.templates import generate_docs, render_project

LIBRARY = (
    "A library service. Book has title (text, required), author (text), year (integer) and "
    "isbn (text, unique). Member has name and email (unique)."
)
PROMPTS = {
    "library": LIBRARY,
    "clinic": (
        "A clinic. Patient has name (text, required), email (unique) and age (integer). "
        "Visit has patient (reference to Patient, required), reason (text, required) and "
        "fee (decimal)."
    ),
    "garden": (
        "A community garden. Plot has code (text, required, unique) and area (number). "
        "Gardener has name (text, required) and phone. Crop has name (text, required), "
        "plot (reference to Plot) and planted (date)."
    ),
    "bakery": (
        "Orders for a bakery. Product has name (text, required, unique) and price "
        "(decimal, required). Order has customer (text, required), product (reference to "
        "Product, required), quantity (integer) and paid (yes/no)."
    ),
    # Long names, as requests written in plain words give them: lines past 100 columns.
    "volunteers": (
        "A volunteer coordination registry. Community volunteer coordinator has preferred "
        "contact email address (text, required, unique), maximum weekly availability hours "
        "(integer, minimum 0, maximum 80) and emergency contact telephone number (text). "
        "Neighbourhood assistance assignment has community volunteer coordinator (Community "
        "volunteer coordinator, required), scheduled assistance start date (date) and "
        "assistance description details (text, required)."
    ),
}
RUFF = Path(sys.executable).parent / "ruff"
TAIL = 1500


def install_command(readme: str) -> str:
    """The `pip install ...` line of the generated README's Install section."""
    found = re.search(r"^pip install .+$", readme, re.M)
    if found is None:
        raise ValueError("the generated README has no pip install command")
    return found.group(0)


def run(argv: list[str], cwd: Path, timeout: float = 600) -> tuple[bool, str]:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return done.returncode == 0, (done.stdout + done.stderr)[-TAIL:]


def own_project(template: str, name: str, prompt: str, root: Path) -> dict[str, object]:
    """Generate one project into `root` and take it through the owner's steps."""
    spec = parse_requirements(prompt, template=template)
    project = root / f"{template}-{name}"
    for file in [*render_project(spec), *generate_docs(spec, None)]:
        path = project / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.content)
    env = project / ".venv"
    steps: dict[str, object] = {"template": template, "prompt": name}
    started = time.monotonic()
    ok, out = run(["python3", "-m", "venv", str(env)], project)
    steps["venv"] = ok
    command = install_command((project / "README.md").read_text())
    if ok:
        pip = [str(env / "bin" / "python"), "-m", *command.split()]
        ok, out = run([part.strip("'") for part in pip], project)
    steps["install"] = ok
    if ok:
        ok, out = run([str(env / "bin" / "python"), "-m", "pytest", "-q"], project)
    steps["pytest"] = ok
    lint_ok, lint_out = run([str(RUFF), "check", "."], project)
    steps["ruff"] = lint_ok
    steps["seconds"] = round(time.monotonic() - started, 1)
    steps["output"] = out if not ok else lint_out if not lint_ok else ""
    return steps


async def main(templates: list[str], keep: bool) -> int:
    root = Path(tempfile.mkdtemp(prefix="genflow-owner-"))
    print(f"genflow owner's experience, projects in {root}")
    print(f"{'template':<16} {'prompt':<8} venv  install  pytest  ruff  seconds")
    failed = 0
    try:
        for template in templates:
            for name, prompt in PROMPTS.items():
                steps = await asyncio.to_thread(own_project, template, name, prompt, root)
                marks = [
                    "ok" if steps[key] else "FAIL" for key in ("venv", "install", "pytest", "ruff")
                ]
                print(
                    f"{template:<16} {name:<8} {marks[0]:<5} {marks[1]:<8} {marks[2]:<7} "
                    f"{marks[3]:<5} {steps['seconds']}"
                )
                if "FAIL" in marks:
                    failed += 1
                    print("    " + str(steps["output"]).replace("\n", "\n    "))
    finally:
        if keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    total = len(templates) * len(PROMPTS)
    print(f"{total - failed} of {total} projects green from a clean install")
    return failed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", action="append", choices=TEMPLATES)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.template or list(TEMPLATES), args.keep)))
