"""The reconciler's activity: one pass over the active rows (genflow.reconcile)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from activities.heartbeat import heartbeat_while
from genflow.contracts import ReconcileInput, ReconcileOutcome
from genflow.reconcile import Reconciler


class ReconcileActivities:
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    @activity.defn(name="reconcile_read_model")
    async def reconcile_read_model(self, input: ReconcileInput) -> ReconcileOutcome:
        """Settle every active row whose workflow has closed; idempotent."""
        report = await heartbeat_while(
            self._reconciler.run(input.max_rows, timedelta(seconds=input.grace_seconds))
        )
        return ReconcileOutcome(report.checked, report.settled)
