"""Log lines as JSON, one object per line.

A line that concerns a generation carries `generation_id`, `workflow_id`, `stage` and
`attempt` (null where one does not apply). They come from the `extra` of the call,
from the context Temporal's `activity.logger` and `workflow.logger` attach to every
record, or from the path of an access line; a `gen-<uuid>` workflow id also gives the
generation id. A line written while the API handles a request carries its
`request_id` (the `X-Request-ID` the response echoes).
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from genflow.domain import STAGE_DEFS, WORKFLOW_ID_PREFIX, workflow_id_for

GENERATION_FIELDS = ("generation_id", "workflow_id", "stage", "attempt")
STAGE_OF_ACTIVITY = {stage.activity: str(stage.name) for stage in STAGE_DEFS}
# uvicorn's access line for a request about one generation.
GENERATION_PATH = re.compile(r"/v1/generations/([0-9a-fA-F-]{36})(?![0-9a-fA-F-])")
# The id of the request being handled (set by the API's request-id middleware).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def generation_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The generation context of `record`: empty for a line about no generation."""
    temporal: dict[str, Any] = (
        getattr(record, "temporal_activity", None)
        or getattr(record, "temporal_workflow", None)
        or {}
    )
    fields: dict[str, Any] = {}
    if temporal:
        fields["workflow_id"] = temporal.get("workflow_id")
        fields["attempt"] = temporal.get("attempt")
        fields["stage"] = STAGE_OF_ACTIVITY.get(temporal.get("activity_type", ""))
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) > 2:
        path = GENERATION_PATH.search(str(record.args[2]))  # (client, method, path, ...)
        if path:
            fields["generation_id"] = path.group(1)
    for name in GENERATION_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            fields[name] = str(value) if name != "attempt" else value
    workflow_id: str = fields.get("workflow_id") or ""
    if not fields.get("generation_id") and workflow_id.startswith(WORKFLOW_ID_PREFIX):
        fields["generation_id"] = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
    if not fields.get("generation_id"):
        return {}
    if not workflow_id:
        fields["workflow_id"] = workflow_id_for(fields["generation_id"])
    return {name: fields.get(name) for name in GENERATION_FIELDS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **generation_fields(record),
        }
        current_request = getattr(record, "request_id", None) or request_id.get()
        if current_request is not None:
            entry["request_id"] = current_request
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(log_format: str = "json", level: str = "INFO") -> None:
    """Route every logger (genflow's, Temporal's, uvicorn's) to stderr in one format."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        # The Temporal context is in the fields; do not repeat it inside the message.
        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
