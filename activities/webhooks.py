"""Webhook delivery: one signed POST per attempt (the workflow owns the schedule)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from temporalio import activity

from genflow.contracts import WebhookDelivery
from genflow.db.webhooks import WebhookSecretRepository
from genflow.webhooks import RefusedAddress, check_url, signature_header


class WebhookActivities:
    def __init__(
        self, secrets: WebhookSecretRepository, http: httpx.AsyncClient, allow_private: bool
    ) -> None:
        self._secrets = secrets
        self._http = http
        self._allow_private = allow_private

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery: WebhookDelivery) -> str:
        """`delivered` (2xx), `gone` (410: never again), `refused` (address not
        allowed), or `failed` (try again later)."""
        context = {"generation_id": delivery.payload["data"]["generation_id"]}
        try:
            # Checked again at delivery time: DNS may have changed since the create.
            await asyncio.to_thread(check_url, delivery.url, self._allow_private)
        except RefusedAddress as err:
            activity.logger.warning(
                "webhook %s refused: %s", delivery.message_id, err, extra=context
            )
            return "refused"
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        # During a rotation's grace, signed with the new and the replaced secret.
        secrets = await self._secrets.signing_secrets(delivery.user_id)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery.message_id, timestamp, body),
        }
        try:
            response = await self._http.post(delivery.url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            activity.logger.info("webhook %s failed: %s", delivery.message_id, err, extra=context)
            return "failed"
        outcome = (
            "gone"
            if response.status_code == 410
            else "delivered"
            if response.is_success
            else "failed"
        )
        activity.logger.info(
            "webhook %s answered %d: %s",
            delivery.message_id,
            response.status_code,
            outcome,
            extra=context,
        )
        return outcome
