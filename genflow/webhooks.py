"""Standard Webhooks signing and the address policy for webhook URLs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import httpx

if TYPE_CHECKING:
    from genflow.settings import Settings

# The one list of events a webhook can subscribe to (`webhook_events`); a delivery's
# `type` is `generation.<event>`.
WebhookEvent = Literal[
    "started", "stage.completed", "awaiting_approval", "completed", "failed", "cancelled"
]
EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)
SECRET_PREFIX = "whsec_"
DEFAULT_PORTS = {"http": 80, "https": 443}


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
    """The URL is not http(s), names a port outside the allow-list, or its host does not
    resolve or resolves to an address inside the network. The message never quotes an
    address: it goes back to the caller."""


class ResolveTimeout(RefusedAddress):
    """The host did not resolve within the time allowed: refused at create, tried again
    later at delivery."""


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of `host` (IP literals, in the resolver's order); RefusedAddress
        if it does not resolve, ResolveTimeout if that took too long."""
        ...


class SystemResolver:
    """The system's resolver (getaddrinfo) on a few threads of its own, so slow DNS
    neither fills the event loop's default pool nor holds a request for long."""

    def __init__(self, threads: int, timeout_seconds: float) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="webhook-resolver")
        self._timeout = timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> SystemResolver:
        return cls(settings.webhook_resolvers, settings.webhook_resolve_seconds)

    async def resolve(self, host: str, port: int) -> list[str]:
        lookup = partial(socket.getaddrinfo, host, port, proto=socket.IPPROTO_TCP)
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(self._pool, lookup), self._timeout
            )
        except TimeoutError as err:  # the lookup goes on in its thread; its answer is dropped
            raise ResolveTimeout("the webhook host did not resolve in time") from err
        except (OSError, UnicodeError) as err:  # UnicodeError: not a valid IDNA name
            raise RefusedAddress("the webhook host does not resolve") from err
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# `is_global` on Python 3.11 passes IPv6 addresses outside global unicast (2000::/3),
# such as site-local fec0::/10, IPv4-compatible ::/96 or local NAT64 64:ff9b:1::/48,
# and 6to4 (2002::/16), which carries an IPv4 address of any kind.
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_6TO4 = ipaddress.ip_network("2002::/16")
# NAT64's well-known prefix carries an IPv4 address, judged as that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_outside_network(address: str) -> bool:
    """Whether an IP literal is a public unicast address (the standard library's
    `is_global`, not multicast), judging IPv4-mapped and NAT64 addresses by the IPv4
    address they carry."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if isinstance(ip, ipaddress.IPv6Address) and (ip not in _GLOBAL_UNICAST or ip in _6TO4):
        return False
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class PinnedUrl:
    """Where a delivery goes: `url` names the checked address in place of the host, so
    the connection cannot go elsewhere (no second lookup); the name stays in the `Host`
    header and is the TLS server name, which the certificate is verified against."""

    url: httpx.URL
    host_header: str
    server_name: str


class WebhookAddresses:
    """The address policy of webhook URLs: http(s), port 80, 443 or an allowed one, and
    every address of the host outside the network; unless private addresses are allowed
    (tests, local development), which allows any address and port."""

    def __init__(
        self, resolver: Resolver, *, allow_private: bool, extra_ports: Iterable[int] = ()
    ) -> None:
        self._resolver = resolver
        self._allow_private = allow_private
        self._ports = frozenset((80, 443, *extra_ports))

    @classmethod
    def from_settings(cls, settings: Settings, resolver: Resolver) -> WebhookAddresses:
        return cls(
            resolver,
            allow_private=settings.webhook_allow_private,
            extra_ports=settings.webhook_extra_ports,
        )

    def parse(self, url: str) -> httpx.URL:
        """The URL if its scheme and port are allowed (no DNS), else RefusedAddress."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as err:
            raise RefusedAddress(f"the webhook URL is malformed: {err}") from err
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise RefusedAddress("the webhook URL must be http or https with a host")
        port = parsed.port  # None: the scheme's default
        if port is not None and not 0 < port < 65536:
            raise RefusedAddress("the webhook URL's port is out of range")
        if port is not None and port not in self._ports and not self._allow_private:
            allowed = ", ".join(map(str, sorted(self._ports)))
            raise RefusedAddress(f"the webhook URL's port must be one of {allowed}")
        return parsed

    async def pin(self, url: str) -> PinnedUrl:
        """The URL with its host resolved once and every address checked, pinned to the
        first; RefusedAddress (ResolveTimeout when the lookup took too long)."""
        parsed = self.parse(url)
        host = parsed.raw_host.decode("ascii")  # IDNA-encoded; an IPv6 literal unbracketed
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            port = parsed.port or DEFAULT_PORTS[parsed.scheme]
            addresses = await self._resolver.resolve(host, port)
        if not addresses:
            raise RefusedAddress("the webhook host does not resolve")
        if not self._allow_private and not all(map(is_outside_network, addresses)):
            raise RefusedAddress("the webhook host resolves to an address inside the network")
        return PinnedUrl(
            url=parsed.copy_with(host=addresses[0]),
            host_header=parsed.netloc.decode("ascii"),
            server_name=host,
        )
