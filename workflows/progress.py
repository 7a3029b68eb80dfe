"""GenerationWorkflow's live progress, what its `progress` query returns, and its mirrors
outside the workflow: the search attributes operators filter on and the Web UI's
current details, both updated on every transition."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from genflow import search_attributes as sa
    from genflow.contracts import Progress, StageProgress, StageResult
    from genflow.domain import STAGES, StageName, Status, stage_def

_log = workflow.logger


class ProgressTracker:
    def __init__(self) -> None:
        self.progress = Progress(
            generation_id="",
            status=Status.PENDING,
            stage=None,
            percent=0,
            stages={stage: StageProgress() for stage in STAGES},
        )
        # Search attribute updates held back to go out with the next upsert.
        self._pending_updates: list[SearchAttributeUpdate[Any]] = []

    def enter(self, stage: StageName, upsert: bool = True) -> None:
        self.progress.stage = stage
        self.progress.stages[stage].status = "running"
        if upsert:
            self._upsert(sa.GENERATION_STAGE.value_set(stage))
        self._describe()
        _log.info("stage started", extra={"stage": stage})

    def leave(self, stage: StageName, result: StageResult, upsert: bool = True) -> None:
        """`upsert`: the score now; otherwise with the next upsert (since GenerationWorkflow's
        FOLDED_WRITES patch)."""
        entry = self.progress.stages[stage]
        entry.status = "completed"
        entry.attempts = result.attempt
        self.progress.percent = stage_def(stage).progress
        if result.quality_score is not None:
            self.progress.quality_score = result.quality_score
            score = sa.QUALITY_SCORE.value_set(result.quality_score)
            if upsert:
                workflow.upsert_search_attributes([score])
            else:
                self._pending_updates.append(score)
        _log.info(
            "stage completed after %d attempt(s)",
            result.attempt,
            extra={"stage": stage, "attempt": result.attempt},
        )

    def set_status(
        self, status: Status, stage: StageName | None = None, upsert_stage: bool = False
    ) -> None:
        """`stage`: where it is; upserted with `upsert_stage`, unset when None."""
        self.progress.status = status
        self.progress.stage = stage
        updates = [sa.GENERATION_STATUS.value_set(status)]
        if stage is None:
            updates.append(sa.GENERATION_STAGE.value_unset())
        elif upsert_stage:
            updates.append(sa.GENERATION_STAGE.value_set(stage))
        self._upsert(*updates)
        self._describe()

    def _upsert(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """One upsert command with `updates` and any held back for it."""
        workflow.upsert_search_attributes([*self._pending_updates, *updates])
        self._pending_updates.clear()

    def _describe(self) -> None:
        """The "current details" the Web UI shows on the workflow's page."""
        progress = self.progress
        lines = [f"**{progress.status}**, {progress.percent}% done"]
        if progress.stage is not None:
            lines.append(f"stage: {progress.stage}")
        if progress.quality_score is not None:
            lines.append(f"quality score: {progress.quality_score:g}")
        workflow.set_current_details("\n\n".join(lines))
