"""ReconcileWorkflow: one pass of the reconciler, fired by the `reconcile-<task queue>`
Schedule every few seconds (overlaps skipped)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from genflow.contracts import ReconcileInput, ReconcileOutcome


@workflow.defn(name="ReconcileWorkflow")
class ReconcileWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileOutcome:
        """Bring the read model in line with every closed generation workflow."""
        outcome: ReconcileOutcome = await workflow.execute_activity_method(
            ReconcileActivities.reconcile_read_model,
            input,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary="Settle the rows whose workflow closed without telling the read model",
        )
        return outcome
