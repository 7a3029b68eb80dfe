"""How much of its findings the quality report keeps: a generated project of any size
must not make its generation's quality report, sent with every GET, large."""

from __future__ import annotations

import json
from typing import Any

# Findings the report keeps per check (with their total).
MAX_FINDINGS = 20
MESSAGE_LIMIT = 200  # characters of a finding's message or path
# The most the report may take as JSON: past it (a project built to bloat it), the
# findings lists are emptied, their totals kept.
REPORT_LIMIT = 32 * 1024


def bounded(report: dict[str, Any]) -> dict[str, Any]:
    """The report within REPORT_LIMIT bytes of JSON: lists a generated project controls
    are emptied (their totals stay) until it fits."""
    if len(json.dumps(report)) <= REPORT_LIMIT:
        return report
    for check in report["checks"]:
        for key in ("findings", "failures"):
            if isinstance(check.get(key), list) and check[key]:
                check[key] = []
                check["truncated"] = True
    return report
