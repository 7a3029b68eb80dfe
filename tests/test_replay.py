"""Determinism guard: every history in tests/histories/ (recorded by
`python -m tests.record_histories`, or downloaded from a real cluster) must replay on
today's workflow code. A change that would break running workflows fails here, not in
production; see README, "Workflow changes and replay"."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.record_histories import HISTORIES, SCENARIOS
from tests.workflow_mocks import WORKFLOWS

# Today's histories, and in subdirectories those of earlier command sequences (named
# after the `workflow.patched` id that changed them), which running workflows may have.
RECORDED = sorted(HISTORIES.rglob("*.json"))


def test_every_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in HISTORIES.glob("*.json")} >= set(SCENARIOS)


def recorded_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())


@pytest.mark.parametrize(
    "path", RECORDED, ids=[str(path.relative_to(HISTORIES).with_suffix("")) for path in RECORDED]
)
async def test_the_workflow_replays_the_recorded_history(path: Path) -> None:
    history = recorded_history(path)

    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)

    assert result.replay_failure is None
