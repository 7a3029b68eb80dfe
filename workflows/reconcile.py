"""The reconciler's workflows.

ReconcilerWorkflow (`reconcile-<task queue>`, one per task queue, started by every
worker): a long-lived loop of passes, each one activity and a timer, that continues as
new after `passes_per_run` passes (about an hour at the default 10 s), so the Web UI's
Workflows list shows one running reconciler rather than a run per pass. It is durable:
when workers come back after an outage its timer fires and a pass catches up. A pass
that fails (after its own retries) is logged, and the loop goes on. An operator's
Cancel or Terminate ends it; the next worker start starts it again
(worker/schedules.py). Signals `pause`/`resume` hold it between passes, `reschedule`
changes its interval at once, and the query `state` tells whether it is paused or in a pass.

ReconcileWorkflow: one pass, which the `reconcile-<task queue>` Schedule of earlier
releases fired every few seconds. Kept registered so runs started before an upgrade
finish; nothing starts it any more.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from genflow.contracts import ReconcileInput, ReconcileOutcome

# A pass heartbeats every second, so one cut off by a dead worker is tried again within
# 5 s, as a stage is (the timeouts are not part of the commands a replay compares).
PASS_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=5),
    "heartbeat_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(maximum_attempts=3),
    "summary": "Settle the rows whose workflow closed without telling the read model",
}
# A `reschedule` to another interval ends the sleep under way, so a shorter interval
# applies at once, not after the old one: the sleep is a wait whose timer the signal
# cancels. Runs that began before this patch sleep as they did.
RESCHEDULE_WAKES = "reschedule-wakes"


@workflow.defn(name="ReconcilerWorkflow")
class ReconcilerWorkflow:
    def __init__(self) -> None:
        self._paused = False
        self._in_pass = False
        self._every: float | None = None

    @workflow.signal
    def pause(self) -> None:
        """No new pass until `resume` (the one under way finishes)."""
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False

    @workflow.signal
    def reschedule(self, every_seconds: float) -> None:
        """Pass every `every_seconds` from now on: a sleep under way ends, and the next
        pass runs at once (a worker started with another `reconcile_every_seconds`
        sends it)."""
        self._every = every_seconds

    @workflow.query
    def state(self) -> dict[str, Any]:
        """Whether it is paused, and whether a pass is under way."""
        return {"paused": self._paused, "in_pass": self._in_pass, "every_seconds": self._every}

    @workflow.run
    async def run(self, input: ReconcileInput) -> None:
        """Pass, sleep, pass ... then continue as new with the same settings."""
        self._paused = self._paused or input.paused
        self._every = self._every or input.every_seconds
        for _ in range(max(1, input.passes_per_run)):
            await workflow.wait_condition(lambda: not self._paused)
            self._in_pass = True
            try:
                await workflow.execute_activity_method(
                    ReconcileActivities.reconcile_read_model, input, **PASS_OPTIONS
                )
            except ActivityError as err:
                if is_cancelled_exception(err):  # an operator's Cancel ends it
                    raise
                # One bad pass (after its retries) must not end the reconciler.
                workflow.logger.warning("reconcile pass failed: %s", err.cause or err)
            finally:
                self._in_pass = False
            await self._sleep()
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            ReconcileInput(
                input.max_rows,
                input.grace_seconds,
                self._every,
                input.passes_per_run,
                self._paused,
            )
        )

    async def _sleep(self) -> None:
        every = self._every
        if not workflow.patched(RESCHEDULE_WAKES):
            await workflow.sleep(timedelta(seconds=every or 0))
            return
        with contextlib.suppress(asyncio.TimeoutError):  # the interval went by
            await workflow.wait_condition(lambda: self._every != every, timeout=every)


@workflow.defn(name="ReconcileWorkflow")
class ReconcileWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileOutcome:
        """Bring the read model in line with every closed generation workflow."""
        outcome: ReconcileOutcome = await workflow.execute_activity_method(
            ReconcileActivities.reconcile_read_model, input, **PASS_OPTIONS
        )
        return outcome
