"""The review's sandboxed test run: results from pytest's JUnit XML report, what happens
when there is none, lower CPU priority for every child, timestamps that let stored
reports tell how many sandboxes overlapped, and only the plugins a project mentions."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from genflow.files import FileOut
from genflow.pipeline.review import report as review_module
from genflow.pipeline.review.report import review
from genflow.pipeline.review.testenv import pytest_command
from genflow.pipeline.sandbox.limits import SANDBOX_NICE, SandboxLimits
from tests.conftest import eventually

PACKAGE = FileOut("mini/__init__.py", "source", b'"""A tiny package."""\n')


def project(tests: str, *extra: FileOut) -> list[FileOut]:
    return [PACKAGE, FileOut("tests/test_mini.py", "test", tests.encode()), *extra]


def check_of(report: dict[str, Any]) -> dict[str, Any]:
    check: dict[str, Any] = next(c for c in report["checks"] if c["name"] == "tests")
    return check


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def max_overlap(reports: list[dict[str, Any]]) -> int:
    """How many sandboxes ran at once at most, from stored reports alone."""
    events = []
    for report in reports:
        sandbox = check_of(report)["sandbox"]
        events.append((datetime.fromisoformat(sandbox["started_at"]), 1))
        events.append((datetime.fromisoformat(sandbox["ended_at"]), -1))
    running = most = 0
    for _, change in sorted(events):
        running += change
        most = max(most, running)
    return most


MIXED = """
import pytest


class TestK:
    def test_ok(self):
        pass

    def test_bad(self):
        assert 1 == 2


@pytest.mark.parametrize("x", [1, 2])
def test_p(x):
    assert x == 1


@pytest.mark.skip
def test_skipped():
    pass
"""


async def test_outcome_comes_from_the_junit_xml_report() -> None:
    result = await review(project(MIXED), SandboxLimits(timeout_seconds=60))
    tests = check_of(result.report)
    assert (tests["passed"], tests["failed"], tests["timed_out"]) == (2, 2, False)
    assert tests["exit_code"] == 1 and "error" not in tests
    assert tests["failures"] == [
        "tests/test_mini.py::TestK::test_bad",
        "tests/test_mini.py::test_p[2]",
    ]
    assert "2 failed, 2 passed, 1 skipped" in tests["output_tail"]
    assert tests["pass_rate"] == 0.5
    sandbox = tests["sandbox"]
    started, ended = (datetime.fromisoformat(sandbox[k]) for k in ("started_at", "ended_at"))
    assert started.tzinfo == UTC and started < ended
    assert 0 < sandbox["cpu_seconds"] < 30


async def test_a_collection_error_is_a_failure_named_by_its_module() -> None:
    result = await review(project("import not_a_module\n"), SandboxLimits(timeout_seconds=60))
    tests = check_of(result.report)
    assert (tests["passed"], tests["failed"]) == (0, 1)
    assert tests["failures"] == ["tests/test_mini.py"]


async def test_no_report_counts_nothing_passed_and_says_why() -> None:
    killed = "import os, signal\n\ndef test_ok():\n    pass\n\ndef test_dies():\n"
    killed += "    os.kill(os.getpid(), signal.SIGKILL)\n"
    result = await review(project(killed), SandboxLimits(timeout_seconds=60))
    tests = check_of(result.report)
    assert (tests["passed"], tests["failed"], tests["exit_code"]) == (0, 0, -9)
    assert tests["error"] == "pytest wrote no JUnit XML report; it was killed by SIGKILL"
    assert tests["pass_rate"] == 0.0


async def test_a_timeout_kills_the_run_and_says_so() -> None:
    slow = "import time\n\ndef test_ok():\n    pass\n\ndef test_slow():\n    time.sleep(60)\n"
    result = await review(project(slow), SandboxLimits(timeout_seconds=2))
    tests = check_of(result.report)
    assert tests["timed_out"] and tests["passed"] == 0 and tests["exit_code"] == -9
    assert tests["error"] == "pytest did not finish within 2 s and was killed"
    sandbox = tests["sandbox"]
    ran = datetime.fromisoformat(sandbox["ended_at"]) - datetime.fromisoformat(
        sandbox["started_at"]
    )
    assert 1.5 < ran.total_seconds() < 20


def host_processes_with(token: str) -> list[int]:
    """Host pids whose command line holds `token` (the sandbox has its own PID numbers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline and not gone(int(entry.name)):
                found.append(int(entry.name))
    return found


async def test_what_the_tests_leave_running_dies_with_the_run() -> None:
    token = f"{os.getpid() % 1000}.{uuid.uuid4().int % 10**9}"
    leaver = (
        "import subprocess\n\ndef test_leaves_a_process():\n"
        f"    subprocess.Popen(['sleep', '{token}'], start_new_session=True)\n"
        "    assert False\n"
    )
    result = await review(project(leaver), SandboxLimits(timeout_seconds=60))
    assert check_of(result.report)["failed"] == 1
    await eventually(
        lambda: not host_processes_with(token), 5, what=f"the process left running ({token}) to die"
    )


async def test_pytest_runs_at_lower_priority() -> None:
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + SANDBOX_NICE)
    niced = f"import os\n\ndef test_nice():\n    assert os.nice(0) == {expected}\n"
    tests = check_of((await review(project(niced), SandboxLimits())).report)
    assert (tests["passed"], tests["failed"]) == (1, 0), tests["output_tail"]


async def test_ruff_runs_at_lower_priority(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The lint child runs under `nice`: the ruff command (after the nice prefix) is
    swapped for a Python one that prints an empty finding list only at the expected
    niceness."""
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + SANDBOX_NICE)
    real = asyncio.create_subprocess_exec

    async def swapped(program: str, *args: str, **kwargs: Any) -> Any:
        assert (program, *args[:2]) == ("nice", "-n", str(SANDBOX_NICE))
        code = f"import os; print('[]' if os.nice(0) == {expected} else 'wrong niceness')"
        return await real(program, *args[:2], sys.executable, "-c", code, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", swapped)
    assert await review_module.run_lint(tmp_path, 30) == []


async def test_only_the_plugins_a_project_mentions_are_loaded(tmp_path: Path) -> None:
    anyio_tests = (
        "import pytest\n\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n\n\n"
        "@pytest.mark.anyio\nasync def test_async():\n    assert True\n"
    )
    result = await review(project(anyio_tests), SandboxLimits())
    tests = check_of(result.report)
    assert (tests["passed"], tests["failed"]) == (1, 0), tests["output_tail"]
    plain = tmp_path / "plain"
    review_module.write_project(project("def test_ok():\n    pass\n"), plain)
    command = pytest_command(plain, plain / "report.xml")
    assert "anyio" not in command and "hypothesispytest" not in command
    assert command[command.index("no:asyncio") - 1] == "-p"


async def test_stored_reports_tell_how_many_sandboxes_overlapped() -> None:
    slow = "import time\n\ndef test_slow():\n    time.sleep(1)\n"
    together = await asyncio.gather(*(review(project(slow), SandboxLimits()) for _ in range(2)))
    assert max_overlap([r.report for r in together]) == 2
    alone = [(await review(project(slow), SandboxLimits())).report for _ in range(2)]
    assert max_overlap(alone) == 1
