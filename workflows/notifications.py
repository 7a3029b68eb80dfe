"""The webhook events of a generation: each starts its own delivery workflow."""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from genflow.contracts import GenerationInput, Progress, WebhookDelivery
    from workflows.webhook import WebhookDeliveryWorkflow

_log = workflow.logger


async def notify(
    input: GenerationInput,
    progress: Progress,
    event: str,
    stage: str | None = None,
    error: dict[str, str] | None = None,
) -> None:
    """Start the delivery of `event` as an abandoned child workflow: its retries
    never block, delay or fail this generation."""
    target = input.webhook
    if target is None or event not in target.events:
        return
    message_id = f"msg_{input.generation_id}_{event}" + (f"_{stage}" if stage else "")
    payload = {
        "type": f"generation.{event}",
        "timestamp": workflow.now().isoformat(),
        "data": {
            "generation_id": input.generation_id,
            "status": progress.status,
            "stage": stage,
            "quality_score": progress.quality_score,
            "error": error,
        },
    }
    try:
        await workflow.start_child_workflow(
            WebhookDeliveryWorkflow.run,
            WebhookDelivery(
                message_id, input.user_id, target.url, event, payload, target.schedule_seconds
            ),
            id=f"webhook-{message_id}",
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Webhook {event} of generation {input.generation_id}",
        )
    except Exception:  # a webhook must never fail the generation
        _log.exception("could not start webhook delivery %s", message_id)
