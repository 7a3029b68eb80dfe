"""RetentionWorkflow: one purge, fired by the `retention-<task queue>` Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities
    from genflow.contracts import RetentionInput


@workflow.defn(name="RetentionWorkflow")
class RetentionWorkflow:
    @workflow.run
    async def run(self, input: RetentionInput) -> dict[str, int]:
        """Delete what has outlived its purpose (see genflow.db.retention)."""
        purged: dict[str, int] = await workflow.execute_activity_method(
            RetentionActivities.purge_expired,
            input,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=5),
            summary="Purge expired idempotency keys, old tombstones and orphaned inputs",
        )
        return purged
