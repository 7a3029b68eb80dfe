"""Where a webhook may go: resolved once, every address checked, the POST pinned to the
checked address (the host name kept for `Host` and TLS), only on allowed ports, never
quoting an address in an error, and only for callers within their limits. Resolvers are
scripted (no public network here); receivers are real, on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from activities.webhooks import WebhookActivities
from api.app import create_app
from api.generations.dependencies import get_service, service_of
from api.generations.service import GenerationService
from api.state import app_state
from genflow.contracts import WebhookDelivery
from genflow.db.engine import make_session_maker
from genflow.db.webhooks import WebhookSecretRepository
from genflow.domain import workflow_id_for
from genflow.settings import Settings
from genflow.webhooks import (
    RefusedAddress,
    ResolveTimeout,
    SystemResolver,
    WebhookAddresses,
)
from tests.conftest import Stack, eventually, free_port, serve
from tests.test_webhooks import Receiver, receiver_fixture  # noqa: F401 (fixture `receiver`)

PUBLIC = "93.184.215.14"  # a public address; unreachable here, which is the point
INSIDE = [
    "127.0.0.1",
    "10.0.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.100.100.200",
    "0.0.0.0",
    "224.0.0.1",
    "::1",
    "fe80::1",
    "fc00::1",
    "fec0::1",
    "2002:7f00:1::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "ff02::1",
]


@dataclass
class ScriptedResolver:
    """Answers each lookup of a host with its next scripted answer (the last one again
    once the script is used up): addresses, or an error to raise. Records each lookup."""

    script: dict[str, list[list[str] | RefusedAddress]] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answers = self.script.get(host) or [RefusedAddress("the webhook host does not resolve")]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, RefusedAddress):
            raise answer
        return answer


class RecordingTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, recording each request it is handed: its URL names the
    address the connection goes to."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await super().handle_async_request(request)


def policy(
    resolver: ScriptedResolver, allow_private: bool = False, extra_ports: tuple[int, ...] = ()
) -> WebhookAddresses:
    return WebhookAddresses(resolver, allow_private=allow_private, extra_ports=extra_ports)


# -- the policy ------------------------------------------------------------------------


@pytest.mark.parametrize("address", INSIDE)
async def test_addresses_inside_the_network_are_refused_without_being_named(
    address: str,
) -> None:
    resolver = ScriptedResolver({"hook.example": [[address]]})
    literal = f"[{address}]" if ":" in address else address
    for url in ("https://hook.example/x", f"https://{literal}/x"):
        with pytest.raises(RefusedAddress) as refused:
            await policy(resolver).pin(url)
        assert "inside the network" in str(refused.value)
        assert address not in str(refused.value) and literal not in str(refused.value)
    assert resolver.calls == [("hook.example", 443)]  # the literal needs no lookup
    pinned = await policy(resolver, allow_private=True).pin("https://hook.example/x")
    assert ipaddress.ip_address(pinned.url.host) == ipaddress.ip_address(address)
    assert (pinned.host_header, pinned.server_name) == ("hook.example", "hook.example")


async def test_one_address_inside_refuses_the_host_and_public_ones_are_pinned() -> None:
    resolver = ScriptedResolver(
        {"mixed.example": [[PUBLIC, "127.0.0.1"]], "public.example": [[PUBLIC, "2606:4700::1"]]}
    )
    with pytest.raises(RefusedAddress) as refused:
        await policy(resolver).pin("http://mixed.example/hook")
    assert PUBLIC not in str(refused.value) and "127.0.0.1" not in str(refused.value)

    pinned = await policy(resolver).pin("https://user:pw@public.example/hook?x=1")
    assert str(pinned.url) == f"https://user:pw@{PUBLIC}/hook?x=1"
    assert (pinned.host_header, pinned.server_name) == ("public.example", "public.example")

    v6 = ScriptedResolver({"v6.example": [["2606:4700::1"]]})
    pinned = await policy(v6, extra_ports=(8443,)).pin("https://v6.example:8443/hook")
    assert str(pinned.url) == "https://[2606:4700::1]:8443/hook"
    assert pinned.host_header == "v6.example:8443"


async def test_only_ports_80_443_and_the_extra_ones_unless_private_is_allowed() -> None:
    resolver = ScriptedResolver({"hook.example": [[PUBLIC]]})
    for url in ("https://hook.example:22/x", "http://hook.example:8080/x"):
        with pytest.raises(RefusedAddress, match=r"port must be one of 80, 443$"):
            await policy(resolver).pin(url)
    with pytest.raises(RefusedAddress, match="port is out of range"):
        await policy(resolver, allow_private=True).pin("http://hook.example:99999/x")
    assert resolver.calls == []  # the port is refused before any lookup

    for url in ("http://hook.example/x", "https://hook.example:80/x", "http://hook.example:443/"):
        await policy(resolver).pin(url)
    extra = await policy(resolver, extra_ports=(8080,)).pin("http://hook.example:8080/x")
    assert extra.url.port == 8080
    with pytest.raises(RefusedAddress, match=r"one of 80, 443, 8080$"):
        await policy(resolver, extra_ports=(8080,)).pin("http://hook.example:22/x")
    anywhere = await policy(resolver, allow_private=True).pin("http://hook.example:22/x")
    assert anywhere.url.port == 22


async def test_a_slow_lookup_times_out_on_the_resolvers_own_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    threads: list[str] = []

    def hanging_getaddrinfo(*_args: Any, **_kwargs: Any) -> list[Any]:
        threads.append(threading.current_thread().name)
        release.wait(10)
        raise OSError("released")

    monkeypatch.setattr("socket.getaddrinfo", hanging_getaddrinfo)
    resolver = SystemResolver(threads=1, timeout_seconds=0.2)
    try:
        # The second lookup waits for the one thread, and times out as well.
        for _ in range(2):
            with pytest.raises(ResolveTimeout, match="did not resolve in time"):
                await resolver.resolve("slow.example", 443)
        assert threads == ["webhook-resolver_0"]
    finally:
        release.set()
        resolver.close()


def test_the_settings_build_the_policy() -> None:
    settings = Settings(webhook_extra_ports=[8080, 8443], webhook_resolvers=2)
    resolver = SystemResolver.from_settings(settings)
    try:
        addresses = WebhookAddresses.from_settings(settings, resolver)
        assert addresses.parse("http://hook.example:8443/x").port == 8443
        with pytest.raises(RefusedAddress):
            addresses.parse("http://hook.example:9000/x")
    finally:
        resolver.close()


# -- delivery ----------------------------------------------------------------------------


@dataclass
class Delivering:
    """The delivery activity with a scripted resolver and a recording transport."""

    engine: AsyncEngine
    resolver: ScriptedResolver | SystemResolver
    allow_private: bool = False
    extra_ports: tuple[int, ...] = ()
    verify: ssl.SSLContext | bool = True
    transport: RecordingTransport = field(init=False)

    async def __call__(self, url: str) -> str:
        self.transport = RecordingTransport(verify=self.verify)
        async with httpx.AsyncClient(
            transport=self.transport, timeout=1, follow_redirects=False
        ) as http:
            activities = WebhookActivities(
                WebhookSecretRepository(make_session_maker(self.engine)),
                http,
                WebhookAddresses(
                    self.resolver, allow_private=self.allow_private, extra_ports=self.extra_ports
                ),
            )
            delivery = WebhookDelivery(
                message_id=f"msg_{uuid.uuid4().hex}",
                user_id="address-user",
                url=url,
                event="completed",
                payload={"type": "generation.completed", "data": {"generation_id": "g"}},
                schedule_seconds=[0],
            )
            return str(await ActivityEnvironment().run(activities.deliver_webhook, delivery))

    @property
    def connected_to(self) -> list[str]:
        return [request.url.host for request in self.transport.requests]


async def test_a_rebinding_host_never_gets_the_post_to_loopback(
    migrated_engine: AsyncEngine, receiver: Receiver
) -> None:
    """Public at the check, loopback at a second lookup: no second lookup is made."""
    port = httpx.URL(receiver.url).port
    assert port is not None
    resolver = ScriptedResolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    deliver = Delivering(migrated_engine, resolver, extra_ports=(port,))
    url = f"http://rebind.example:{port}/hook"

    assert await deliver(url) == "failed"  # the checked address, unreachable here
    assert resolver.calls == [("rebind.example", port)]
    assert deliver.connected_to == [PUBLIC]
    sent = deliver.transport.requests[0]
    assert sent.headers["host"] == f"rebind.example:{port}"
    assert sent.extensions["sni_hostname"] == "rebind.example"

    assert await deliver(url) == "refused"  # the next attempt: loopback now, refused
    assert len(resolver.calls) == 2  # one lookup per attempt
    assert deliver.connected_to == []
    assert receiver.received == []


async def test_a_delivery_to_a_host_with_any_address_inside_is_refused(
    migrated_engine: AsyncEngine, receiver: Receiver
) -> None:
    port = httpx.URL(receiver.url).port
    assert port is not None
    resolver = ScriptedResolver({"mixed.example": [[PUBLIC, "127.0.0.1"]]})
    deliver = Delivering(migrated_engine, resolver, extra_ports=(port,))

    assert await deliver(f"http://mixed.example:{port}/hook") == "refused"
    assert await deliver(f"http://{PUBLIC}:22/hook") == "refused"  # port, no lookup
    assert deliver.connected_to == [] and len(resolver.calls) == 1
    assert receiver.received == []


async def test_a_lookup_that_times_out_at_delivery_is_tried_again_later(
    migrated_engine: AsyncEngine,
) -> None:
    resolver = ScriptedResolver({"slow.example": [ResolveTimeout("did not resolve in time")]})
    deliver = Delivering(migrated_engine, resolver)
    assert await deliver("https://slow.example/hook") == "failed"
    assert deliver.connected_to == []


async def test_a_pinned_delivery_keeps_the_host_name_in_the_host_header(
    migrated_engine: AsyncEngine, receiver: Receiver
) -> None:
    resolver = SystemResolver(threads=1, timeout_seconds=5)
    port = httpx.URL(receiver.url).port
    try:
        if (await resolver.resolve("localhost", 80))[0] != "127.0.0.1":
            pytest.skip("localhost does not resolve to 127.0.0.1 first here")
        deliver = Delivering(migrated_engine, resolver, allow_private=True)
        assert await deliver(f"http://localhost:{port}/hook") == "delivered"
    finally:
        resolver.close()
    assert deliver.connected_to == ["127.0.0.1"]
    assert [d["headers"]["host"] for d in receiver.received] == [f"localhost:{port}"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for `hook.test` (its own CA): (cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    options = ["-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hook.test"]
    names = ["-addext", "subjectAltName=DNS:hook.test"]
    subprocess.run(
        [openssl, "req", *options, *names, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_to_the_pinned_address_verifies_the_host_name(
    migrated_engine: AsyncEngine, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    receiver = Receiver()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            receiver.app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), what="the TLS receiver")
    resolver = ScriptedResolver({"hook.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    trusted = ssl.create_default_context(cafile=str(cert))
    deliver = Delivering(migrated_engine, resolver, allow_private=True, verify=trusted)
    try:
        assert await deliver(f"https://hook.test:{port}/hook") == "delivered"
        assert deliver.connected_to == ["127.0.0.1"]
        # The same address under a name the certificate does not cover: not verified.
        assert await deliver(f"https://other.test:{port}/hook") == "failed"
    finally:
        server.should_exit = True
        await task
    assert [d["headers"]["host"] for d in receiver.received] == [f"hook.test:{port}"]


# -- the API -----------------------------------------------------------------------------


async def test_refused_webhooks_answer_422_and_lookups_wait_for_the_limits(
    stack: Stack,
) -> None:
    """422 problem+json naming no address, and nothing created; a caller over the
    create limit gets 429 before any lookup."""
    resolver = ScriptedResolver(
        {
            "hooks.example": [[PUBLIC]],
            "internal.example": [["10.0.0.5"]],
            "mixed.example": [[PUBLIC, "127.0.0.1"]],
            "slow.example": [ResolveTimeout("the webhook host did not resolve in time")],
        }
    )
    run = uuid.uuid4().hex[:12]
    settings = stack.settings.model_copy(
        update={
            "webhook_allow_private": False,
            "task_queue": f"unpolled-{run}",  # the HTTP answers are under test
            "max_creates_per_minute": 1,
        }
    )
    app = create_app(settings, engine=stack.engine, temporal=stack.temporal)

    async def service_with_scripted_resolver(request: Request) -> GenerationService:
        return service_of(app_state(request), resolver=resolver)

    app.dependency_overrides[get_service] = service_with_scripted_resolver
    server, task, base_url = await serve(app)
    user = f"hook-addresses-{run}"

    async def create(webhook_url: str) -> httpx.Response:
        return await stack.http.post(
            f"{base_url}/v1/generations",
            json={"prompt": "Cat has name.", "webhook_url": webhook_url},
            headers=stack.auth(user),
        )

    refused = {
        "https://internal.example/hook": ("10.0.0.5", "inside the network"),
        "https://mixed.example/hook": ("127.0.0.1", "inside the network"),
        "https://slow.example/hook": (None, "did not resolve in time"),
        "https://nowhere.example/hook": (None, "does not resolve"),
        "http://100.100.100.200/latest/meta-data": ("100.100.100.200", "inside the network"),
        "http://[::ffff:10.0.0.1]/hook": ("10.0.0.1", "inside the network"),
        "https://hooks.example:22/hook": (None, "port must be one of 80, 443"),
        "https://hooks.example:8080/hook": (None, "port must be one of 80, 443"),
    }
    try:
        for url, (address, reason) in refused.items():
            response = await create(url)
            assert response.status_code == 422, (url, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            (error,) = response.json()["errors"]
            assert error["loc"] == ["body", "webhook_url"] and reason in error["msg"], url
            assert address is None or address not in error["msg"]
            assert PUBLIC not in response.text and "127.0.0.1" not in response.text
        assert [host for host, _ in resolver.calls] == [
            "internal.example",
            "mixed.example",
            "slow.example",
            "nowhere.example",
        ]
        created = await create("https://hooks.example/hook")
        assert created.status_code == 202, created.text
        assert len(resolver.calls) == 5

        over_limit = await create("https://hooks.example/hook")
        assert over_limit.status_code == 429, over_limit.text
        assert len(resolver.calls) == 5  # no lookup for a caller over the limit
    finally:
        server.should_exit = True
        await task
    generation_id = created.json()["id"]
    rows, _ = await stack.repository.list_for_user(user)
    assert [str(row.id) for row in rows] == [generation_id]

    # The refused creates were made first: once this one is listed, they would be too.
    async def listed() -> list[str] | None:
        ids = [w.id async for w in stack.temporal.list_workflows(f"UserId = '{user}'")]
        return ids or None

    assert await eventually(listed, what="the created generation's workflow") == [
        workflow_id_for(generation_id)
    ]
    await stack.temporal.get_workflow_handle(workflow_id_for(generation_id)).terminate()
