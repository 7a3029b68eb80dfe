"""JSON log lines: every line about a generation, from the API, the workflow and its
activities, carries generation_id, workflow_id, stage and attempt."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio import activity, workflow

from genflow.logs import JsonFormatter
from tests.conftest import Stack, closed

# Worker-side behaviour: the read model's backend does not change it.
pytestmark = pytest.mark.postgresql_only

FIELDS = {"generation_id", "workflow_id", "stage", "attempt"}


class Lines(logging.Handler):
    """Keeps each record as the JSON line the formatter makes of it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def about(self, generation_id: str) -> list[dict[str, Any]]:
        return [
            entry
            for entry in map(json.loads, self.lines)
            # httpx: the test's own client, not genflow
            if generation_id in json.dumps(entry) and entry["logger"] != "httpx"
        ]


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    monkeypatch.setattr(activity.logger, "activity_info_on_message", False)
    monkeypatch.setattr(workflow.logger, "workflow_info_on_message", False)
    previous = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_every_line_about_a_generation_names_it_its_stage_and_attempt(
    stack: Stack, lines: Lines
) -> None:
    created = await stack.create(metadata={"test": {"fail_once": "code_generation"}})
    done = await stack.finished(created["id"])
    assert done["status"] == "completed"
    workflow_id = f"gen-{created['id']}"
    await closed(stack.temporal.get_workflow_handle(workflow_id))  # its last line is logged

    about = lines.about(created["id"])
    assert about, lines.lines[-20:]
    for entry in about:
        assert entry.keys() >= FIELDS, entry
        assert entry["generation_id"] == created["id"], entry
        assert entry["workflow_id"] == workflow_id, entry
    messages = {(e["logger"], e["message"], e["stage"], e["attempt"]) for e in about}

    assert ("genflow.api", "generation created for alice", None, None) in messages
    # The workflow's own lines, one per transition, and the stage activities' lines.
    assert any(m[1] == "generation started" for m in messages)
    assert any(m[1].startswith("generation completed") for m in messages)
    for stage in ("schema_extraction", "code_generation", "code_review", "documentation"):
        assert any(m[1] == "stage started" and m[2] == stage for m in messages), stage
        assert any(m[1].startswith("stage work done") and m[2] == stage for m in messages)
    # The injected transient failure: attempt 1 fails and says so, attempt 2 finishes.
    failed = [e for e in about if e["message"].startswith("stage attempt failed")]
    assert [(e["stage"], e["attempt"]) for e in failed] == [("code_generation", 1)]
    finished = [
        e
        for e in about
        if e["message"].startswith("stage work done") and e["stage"] == "code_generation"
    ]
    assert [e["attempt"] for e in finished] == [2]


async def test_a_failed_generation_logs_its_error_with_the_failing_stage(
    stack: Stack, lines: Lines
) -> None:
    created = await stack.create(prompt="Nothing to see here.")
    done = await stack.finished(created["id"])
    assert done["status"] == "failed"
    await closed(stack.temporal.get_workflow_handle(f"gen-{created['id']}"))
    about = lines.about(created["id"])
    failure = [e for e in about if e["message"].startswith("generation failed")]
    assert len(failure) == 1
    assert failure[0]["level"] == "warning"
    assert failure[0]["stage"] == "schema_extraction"
    assert "invalid_requirements" in failure[0]["message"]


def test_an_access_line_names_the_generation_of_its_path() -> None:
    generation_id = "9b2f6c1e-3f4a-4d5b-8c7d-0e1f2a3b4c5d"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v1/generations/{generation_id}/events", "1.1", 200),
        None,
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["generation_id"] == generation_id
    assert entry["workflow_id"] == f"gen-{generation_id}"
    assert entry["stage"] is None and entry["attempt"] is None
    assert entry["message"].endswith(f'"GET /v1/generations/{generation_id}/events HTTP/1.1" 200')


def test_lines_about_no_generation_have_no_generation_fields() -> None:
    record = logging.LogRecord("genflow.worker", logging.INFO, __file__, 1, "polling", (), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "polling" and entry["level"] == "info"
    assert not FIELDS & entry.keys()
