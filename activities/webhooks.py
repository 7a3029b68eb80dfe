"""Webhook delivery: one signed POST per attempt (the workflow owns the schedule)."""

from __future__ import annotations

import json
import time

import httpx
from temporalio import activity

from genflow.contracts import WebhookDelivery
from genflow.db.webhooks import WebhookSecretRepository
from genflow.webhooks import RefusedAddress, ResolveTimeout, WebhookAddresses, signature_header


class WebhookActivities:
    def __init__(
        self,
        secrets: WebhookSecretRepository,
        http: httpx.AsyncClient,
        addresses: WebhookAddresses,
    ) -> None:
        self._secrets = secrets
        self._http = http
        self._addresses = addresses

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery: WebhookDelivery) -> str:
        """`delivered` (2xx), `gone` (410: never again), `refused` (address or port not
        allowed), or `failed` (try again later, also when the host did not resolve in
        time). The POST goes to the address checked, never to a second lookup's answer."""
        context = {"generation_id": delivery.payload["data"]["generation_id"]}
        try:
            # Checked again at each delivery: DNS may have changed since the create.
            target = await self._addresses.pin(delivery.url)
        except ResolveTimeout as err:
            activity.logger.info("webhook %s failed: %s", delivery.message_id, err, extra=context)
            return "failed"
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
            "host": target.host_header,
            # A connection of its own: a pooled one to the same address could have been
            # verified (TLS) for another host name.
            "connection": "close",
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery.message_id, timestamp, body),
        }
        try:
            response = await self._http.post(
                target.url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.server_name},
            )
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            # Connection errors can quote the address: the log names the host instead.
            error = str(err).replace(target.url.host, target.server_name)
            activity.logger.info(
                "webhook %s failed: %s: %s",
                delivery.message_id,
                type(err).__name__,
                error,
                extra=context,
            )
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
