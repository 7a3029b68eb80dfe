"""Standard Webhooks signing and the address policy for webhook URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from typing import Literal, get_args
from urllib.parse import urlsplit

# The one list of events a webhook can subscribe to (`webhook_events`); a delivery's
# `type` is `generation.<event>`.
WebhookEvent = Literal[
    "started", "stage.completed", "awaiting_approval", "completed", "failed", "cancelled"
]
EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `id.timestamp.body`, per Standard Webhooks."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,...` per secret, space-separated (Standard
    Webhooks), so during a rotation's grace a receiver holding either secret verifies."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets)


class RefusedAddress(ValueError):
    """The URL is not http(s) or resolves to a loopback, link-local or private address."""


def check_url(url: str, allow_private: bool) -> None:
    """Refuse URLs that are not http(s), or that resolve to an address inside the
    network (unless allowed, for tests and local development). Blocking (DNS)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError as err:
        raise RefusedAddress(f"the webhook URL is malformed: {err}") from err
    if parts.scheme not in ("http", "https") or not host:
        raise RefusedAddress("the webhook URL must be http or https with a host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as err:  # UnicodeError: not a valid IDNA name
        raise RefusedAddress(f"the webhook host {host} does not resolve") from err
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or (address.is_reserved or address.is_multicast or address.is_unspecified)
        ):
            raise RefusedAddress(f"the webhook host {parts.hostname} resolves to {address}")
