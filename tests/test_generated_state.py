"""State in generated projects stays consistent (issue 21), checked on the rendered
projects with real processes.

cli-tool: twenty commands started at once on one JSON file each keep their record,
and a unique value raced for by twenty commands is taken once. python-library: a
stored record cannot be changed behind the store's checks, a string is no integer and
a reference to a missing record is refused, on add and on update."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from genflow.pipeline.spec import parse_requirements
from genflow.pipeline.templates import render_project
from genflow.pipeline.templates.views import Entity, template_context
from tests.support import eventually
from tests.test_templates import LIBRARY

# A request of this test's own, in no issue: a reference that every add checks.
PANTRY = (
    "A pantry inventory. Shelf has label (text, required, unique) and capacity (integer). "
    "Item has sku (text, required, unique), quantity (integer, required), "
    "best_before (date) and shelf (Shelf, required)."
)
CONCURRENT = 20


def render_into(prompt: str, template: str, root: Path) -> str:
    """Write the project of `prompt` under `root`; its package name."""
    spec = parse_requirements(prompt, template=template)
    for file in render_project(spec):
        (root / file.path).parent.mkdir(parents=True, exist_ok=True)
        (root / file.path).write_bytes(file.content)
    return spec.name


def run_python(root: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`code` run by a fresh interpreter with the rendered project in `root` on its path."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass(frozen=True)
class CliCase:
    prompt: str
    setup: list[list[str]]  # commands run one by one first (what the adds refer to)
    add: list[str]  # the add command; "{i}" is the number of the process
    unique_add: list[str]  # an add whose unique value every process asks for
    list_command: str


CLI_CASES = {
    "library": CliCase(
        prompt=LIBRARY,
        setup=[],
        add=["book-add", "--title", "title-{i}", "--isbn", "isbn-{i}", "--year", "{i}"],
        unique_add=["book-add", "--title", "title-{i}", "--isbn", "isbn-taken"],
        list_command="book-list",
    ),
    "pantry": CliCase(
        prompt=PANTRY,
        setup=[["shelf-add", "--label", "top", "--capacity", "40"]],
        add=["item-add", "--sku", "sku-{i}", "--quantity", "{i}", "--shelf", "1"],
        unique_add=["item-add", "--sku", "sku-taken", "--quantity", "{i}", "--shelf", "1"],
        list_command="item-list",
    ),
}


class Cli:
    """The rendered command line of one project, run as `python -m <pkg> --db <file>`."""

    def __init__(self, prompt: str, root: Path) -> None:
        self.root = root
        self.pkg = render_into(prompt, "cli-tool", root)
        self.data = root / "data"
        self.db = self.data / "records.json"

    @property
    def env(self) -> dict[str, str]:
        """The environment the command line runs in: the rendered project on the path."""
        return {**os.environ, "PYTHONPATH": str(self.root)}

    def command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", self.pkg, "--db", str(self.db), *args]

    def run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    async def run_at_once(
        self, args: list[str], count: int, *, gated: bool = False
    ) -> list[tuple[int, str, str]]:
        """Start `count` processes of `args` ("{i}" filled with 1..count) before waiting
        for any; (exit code, stdout, stderr) of each. `gated`: the storage lock is held
        here until every process waits for it, so that all of them go from one instant."""
        gate = self._hold_lock() if gated else None
        processes: list[asyncio.subprocess.Process] = []
        try:
            for i in range(1, count + 1):
                process = await asyncio.create_subprocess_exec(
                    *self.command([arg.format(i=i) for arg in args]),
                    cwd=self.root,
                    env=self.env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                processes.append(process)
            if gate is not None:
                await eventually(
                    lambda: self._waiting_for_lock() >= count,
                    what=lambda: f"{count} waiters, {self._waiting_for_lock()} so far",
                )
        except BaseException:
            for process in processes:
                if process.returncode is None:
                    process.kill()
            raise
        finally:
            if gate is not None:
                os.close(gate)  # lets them go
        outputs = await asyncio.wait_for(
            asyncio.gather(*(process.communicate() for process in processes)), 120
        )
        results = []
        for process, (out, err) in zip(processes, outputs, strict=True):
            assert process.returncode is not None  # communicate() waited for the exit
            results.append((process.returncode, out.decode(), err.decode()))
        return results

    def _hold_lock(self) -> int:
        """The storage's exclusive lock (`<file>.lock`), held until the descriptor closes."""
        self.data.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.db.with_name(self.db.name + ".lock"), os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _waiting_for_lock(self) -> int:
        """How many processes wait for the storage lock (Linux: the `->` lines of
        /proc/locks that name the lock file's device and inode)."""
        lock = os.stat(self.db.with_name(self.db.name + ".lock"))
        device = f"{os.major(lock.st_dev):02x}:{os.minor(lock.st_dev):02x}:{lock.st_ino}"
        lines = Path("/proc/locks").read_text().splitlines()
        return sum(1 for line in lines if "->" in line.split() and device in line.split())

    def records(self, list_command: str) -> list[dict[str, Any]]:
        result = self.run([list_command])
        assert result.returncode == 0, result.stderr
        records: list[dict[str, Any]] = json.loads(result.stdout)
        return records

    def leftovers(self) -> list[str]:
        """Files beside the storage file other than the file and its lock."""
        kept = {self.db.name, self.db.name + ".lock"}
        return sorted(p.name for p in self.data.iterdir() if p.name not in kept)


@pytest.fixture(params=sorted(CLI_CASES))
def cli_case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[CliCase, Cli]:
    case = CLI_CASES[request.param]
    cli = Cli(case.prompt, tmp_path)
    for args in case.setup:
        result = cli.run(args)
        assert result.returncode == 0, result.stderr
    return case, cli


async def test_concurrent_adds_all_keep_their_record(cli_case: tuple[CliCase, Cli]) -> None:
    case, cli = cli_case
    results = await cli.run_at_once(case.add, CONCURRENT)
    assert [code for code, _, _ in results] == [0] * CONCURRENT, [e for _, _, e in results]
    printed = [json.loads(out) for _, out, _ in results]
    records = cli.records(case.list_command)
    assert len(records) == CONCURRENT
    assert len({r["id"] for r in records}) == CONCURRENT
    # What each command printed is what the file holds: no record was overwritten.
    assert sorted(records, key=lambda r: r["id"]) == sorted(printed, key=lambda r: r["id"])
    assert cli.leftovers() == []


async def test_a_unique_value_raced_for_is_taken_once(cli_case: tuple[CliCase, Cli]) -> None:
    case, cli = cli_case
    results = await cli.run_at_once(case.unique_add, CONCURRENT, gated=True)
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [1] * (CONCURRENT - 1), [e for _, _, e in results]
    assert all("already taken" in err for code, _, err in results if code == 1)
    assert len(cli.records(case.list_command)) == 1
    assert cli.leftovers() == []


@dataclass(frozen=True)
class LibraryCase:
    prompt: str
    record: str  # a class with a unique text field and an integer field
    values: dict[str, Any]  # its other required values
    unique: str
    number: str
    referrer: str  # a class with a reference
    referrer_values: str  # source of its values; may use `store` and `first`
    reference: str


LIBRARY_CASES = {
    "library": LibraryCase(
        prompt=LIBRARY,
        record="Book",
        values={"title": "Dune"},
        unique="isbn",
        number="year",
        referrer="Loan",
        referrer_values='member=store.add_member(Member(name="Ann")).id, book=first.id',
        reference="book",
    ),
    "pantry": LibraryCase(
        prompt=PANTRY,
        record="Shelf",
        values={"capacity": 12},
        unique="label",
        number="capacity",
        referrer="Item",
        referrer_values='sku="flour", quantity=2, shelf=first.id',
        reference="shelf",
    ),
}

# Runs in a fresh interpreter with the rendered project on its path and prints what
# each attempt did: "accepted" or the name of the exception it raised.
PROBE = """
import json
from {pkg} import *

def outcome(attempt):
    try:
        attempt()
    except Exception as err:
        return type(err).__name__
    return "accepted"

store = Store()
seen = {{}}
first = store.add_{var}({record}(**{values!r}, {unique}="first"))
second = store.add_{var}({record}(**{values!r}, {unique}="second"))
seen["assign"] = outcome(lambda: setattr(second, "{unique}", first.{unique}))
seen["holders"] = [r.id for r in store.list_{plural}() if r.{unique} == "first"]
seen["first_id"] = first.id
seen["second"] = store.get_{var}(second.id).{unique}
seen["str_number"] = outcome(lambda: {record}(**{values!r}, {unique}="3", {number}="1999"))
seen["str_number_update"] = outcome(lambda: store.update_{var}(first.id, {number}="1999"))
seen["number"] = store.get_{var}(first.id).{number}
dangling = {{**dict({referrer_values}), "{reference}": 999_999}}
seen["missing_add"] = outcome(lambda: store.add_{referrer_var}({referrer}(**dangling)))
referrer = store.add_{referrer_var}({referrer}({referrer_values}))
seen["missing_update"] = outcome(
    lambda: store.update_{referrer_var}(referrer.id, {reference}=999_999)
)
seen["reference"] = store.get_{referrer_var}(referrer.id).{reference}
seen["referrers"] = len(store.list_{referrer_plural}())
print(json.dumps(seen))
"""


@pytest.mark.parametrize("name", sorted(LIBRARY_CASES))
def test_library_records_cannot_break_the_store(name: str, tmp_path: Path) -> None:
    case = LIBRARY_CASES[name]
    pkg = render_into(case.prompt, "python-library", tmp_path)
    # The method names (add_<var>, list_<plural>) as the templates derive them.
    context = template_context(parse_requirements(case.prompt, template="python-library"))
    names = {e.cls: e for e in cast("list[Entity]", context["entities"])}
    record, referrer = names[case.record], names[case.referrer]
    code = PROBE.format(
        pkg=pkg,
        record=case.record,
        var=record.var,
        plural=record.plural,
        values=case.values,
        unique=case.unique,
        number=case.number,
        referrer=case.referrer,
        referrer_var=referrer.var,
        referrer_plural=referrer.plural,
        referrer_values=case.referrer_values,
        reference=case.reference,
    )
    result = run_python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["assign"] == "FrozenInstanceError"
    assert seen["holders"] == [seen["first_id"]]
    assert seen["second"] == "second"
    assert seen["str_number"] == "TypeError"
    assert seen["str_number_update"] == "TypeError"
    assert seen["number"] == case.values.get(case.number)
    assert seen["missing_add"] == "MissingReference"
    assert seen["missing_update"] == "MissingReference"
    assert seen["reference"] != 999_999
    assert seen["referrers"] == 1
