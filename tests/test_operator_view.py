"""What an operator sees of a generation in the Temporal Web UI: a summary of the
workflow, a readable summary on each activity, search attributes and memo, and the
workflow's current details."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.converter import DataConverter

from genflow import search_attributes as sa
from tests.conftest import Stack, closed

# Worker-side behaviour: the read model's backend does not change it.
pytestmark = pytest.mark.postgresql_only


async def test_workflow_and_activities_carry_summaries_for_the_web_ui(stack: Stack) -> None:
    created = await stack.create(title="Library service", tags=["ops"])
    assert (await stack.finished(created["id"]))["status"] == "completed"
    handle = stack.temporal.get_workflow_handle(f"gen-{created['id']}")
    description = await closed(handle)

    assert await description.static_summary() == "Library service"
    assert created["id"] in (await description.static_details() or "")
    assert (await description.memo())["title"] == "Library service"
    assert description.typed_search_attributes.get(sa.GENERATION_STATUS) == "completed"

    converter = DataConverter.default
    summaries: list[str] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            assert event.user_metadata.HasField("summary"), event
            (summary,) = await converter.decode([event.user_metadata.summary], [str])
            summaries.append(summary)
    # The first stage records the start and the last one the completion.
    assert summaries == [
        "Stage 1 of 4: extract the project spec from the requirements",
        "Stage 2 of 4: generate the project's files",
        "Stage 3 of 4: review: syntax, lint and the project's own tests",
        "Stage 4 of 4: write the documentation",
    ]

    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details.startswith("**completed**, 100% done")
    assert "quality score: 100" in metadata.current_details
