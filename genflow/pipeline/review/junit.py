"""pytest's JUnit XML report, read after the sandbox has exited: the test outcome comes
from this structured report, never from the last line of output."""

from __future__ import annotations

import io
import os
import stat
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

REPORT_SIZE_LIMIT = 16 * 1024 * 1024  # a larger JUnit XML report is not parsed
# What of the failures the quality report keeps: the first MAX_FAILURES node ids, cut to
# NODE_ID_LIMIT characters, beside `failures_total`. The generated project writes the
# report, and the quality report goes out with every GET of its generation.
MAX_FAILURES = 20
NODE_ID_LIMIT = 300


def _node_id(case: ElementTree.Element) -> str:
    """The pytest node id of a JUnit XML (xunit1) testcase: tests/test_x.py::TestC::test_y."""
    classname, name, file = (case.get(key, "") for key in ("classname", "name", "file"))
    if not file:
        return "::".join(part for part in (classname, name) if part)
    module = file.removesuffix(".py").replace("/", ".")
    if not classname and name == module:  # a module that failed to collect
        return file
    classes = classname[len(module) :].strip(".") if classname.startswith(module) else ""
    return "::".join([file, *(classes.split(".") if classes else []), name])


def read_junit_xml(path: Path, watched: tuple[str, ...] = ()) -> dict[str, Any]:
    """passed, failed, the first failed node ids and their total from pytest's JUnit XML
    report, and "watched": passed and failed of each of the `watched` test files that ran
    (by path, e.g. tests/test_migrations.py); or an "error" saying why the report cannot
    be read. Blocking: call it in a thread. The file is the sandbox's: a symlink,
    a FIFO or an oversized file is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return {"error": "pytest wrote no JUnit XML report"}
    except OSError as err:
        return {"error": f"the JUnit XML report cannot be opened ({err.strerror})"}
    with os.fdopen(fd, "rb") as report:
        info = os.fstat(report.fileno())
        if not stat.S_ISREG(info.st_mode):
            return {"error": "the JUnit XML report is not a regular file"}
        if info.st_size == 0:  # the sandbox's report file, never written
            return {"error": "pytest wrote no JUnit XML report"}
        if info.st_size > REPORT_SIZE_LIMIT:
            return {"error": f"the JUnit XML report is larger than {REPORT_SIZE_LIMIT} bytes"}
        data = report.read(REPORT_SIZE_LIMIT + 1)
    return _outcome(data, watched)


def _outcome(data: bytes, watched: tuple[str, ...] = ()) -> dict[str, Any]:
    """Count the testcases as they stream past (elements are dropped once read, so a
    report of many testcases never becomes a tree in memory); keep the first
    MAX_FAILURES failed node ids, each at most NODE_ID_LIMIT characters, and count the
    outcomes of the `watched` files' testcases."""
    passed = failed = 0
    failures: list[str] = []
    by_file: dict[str, dict[str, int]] = {}
    try:
        for _, element in ElementTree.iterparse(io.BytesIO(data), events=("end",)):
            if element.tag != "testcase":
                continue
            result = None
            if element.find("failure") is not None or element.find("error") is not None:
                failed += 1
                result = "failed"
                if len(failures) < MAX_FAILURES:
                    failures.append(_node_id(element)[:NODE_ID_LIMIT])
            elif element.find("skipped") is None:
                passed += 1
                result = "passed"
            file = element.get("file", "")
            if result is not None and file in watched:
                by_file.setdefault(file, {"passed": 0, "failed": 0})[result] += 1
            element.clear()
    except ElementTree.ParseError as err:
        return {"error": f"the JUnit XML report is not valid XML ({err})"}
    return {
        "passed": passed,
        "failed": failed,
        "failures": failures,
        "failures_total": failed,
        "watched": by_file,
    }
