"""WebhookDeliveryWorkflow: one event delivered on a durable retry schedule. Started
by GenerationWorkflow as an abandoned child, so it never blocks or fails a generation."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities
    from genflow.contracts import WebhookDelivery

FINAL = ("delivered", "gone", "refused")


@workflow.defn(name="WebhookDeliveryWorkflow")
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: WebhookDelivery) -> str:
        """Try at each delay of the schedule until a 2xx, a 410 or a refused address."""
        for delay in delivery.schedule_seconds:
            if delay > 0:
                await workflow.sleep(timedelta(seconds=delay))
            try:
                outcome: str = await workflow.execute_activity_method(
                    WebhookActivities.deliver_webhook,
                    delivery,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
            except ActivityError:
                outcome = "failed"
            if outcome in FINAL:
                return outcome
        return "gave_up"
