"""pytest's JUnit XML report, read after the sandbox has exited: the test outcome comes
from this structured report, never from the last line of output."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

REPORT_SIZE_LIMIT = 16 * 1024 * 1024  # a larger JUnit XML report is not parsed


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


def read_junit_xml(path: Path) -> dict[str, Any]:
    """passed, failed and the failed node ids from pytest's JUnit XML report; or an
    "error" saying why the report cannot be read. The file is the sandbox's: a symlink,
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
    try:
        tree = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        return {"error": f"the JUnit XML report is not valid XML ({err})"}
    passed, failures = 0, []
    for case in tree.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failures.append(_node_id(case))
        elif case.find("skipped") is None:
            passed += 1
    return {"passed": passed, "failed": len(failures), "failures": failures}
