"""The API docs (/docs, /redoc) are served by genflow itself (api/docs.py): every script,
stylesheet and icon comes from genflow's own origin, no page runs inline script, and a
Content-Security-Policy allows nothing else. In a browser that can reach no host but
127.0.0.1, Swagger UI lists the operations and ReDoc renders them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

import tests.browser
from api.app import create_app
from genflow.settings import Settings
from tests.browser import Browser, CDPError, required_chromium
from tests.conftest import SECRET, eventually, serve

PAGES = ["/docs", "/redoc", "/docs/oauth2-redirect"]
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
# Sources a docs page's policy may name: its own origin, inline data images, ReDoc's
# blob: search worker, and inline styles; never another host.
OWN_SOURCES = {"'self'", "'none'", "data:", "blob:", "'unsafe-inline'"}
BASE = "http://genflow.test"


def docs_app(database_url: str = "sqlite+aiosqlite:///unused.db") -> FastAPI:
    return create_app(Settings(jwt_secret=SECRET, database_url=database_url))


class PageParts(HTMLParser):
    """The URLs a page loads (src, href) and whatever it holds inline: script bodies,
    <style> elements, style attributes and event handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.data: dict[str, str] = {}
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.urls += [values[name] for name in ("src", "href") if name in values]
        self.data.update({name: value for name, value in values.items() if "-url" in name})
        self.inline += [f"{tag} {name}" for name in values if name == "style" or name[:2] == "on"]
        if tag == "style":
            self.inline.append("<style>")
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script" and data.strip():
            self.inline.append(f"<script>{data[:40]}")


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=docs_app())
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


def assert_guarded(response: httpx.Response) -> dict[str, list[str]]:
    csp = policy(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == csp["base-uri"] == ["'none'"]
    assert {source for sources in csp.values() for source in sources} <= OWN_SOURCES
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    return csp


@pytest.mark.parametrize("page", PAGES)
async def test_a_docs_page_loads_only_genflows_own_files_under_a_strict_policy(
    http: httpx.AsyncClient, page: str
) -> None:
    response = await http.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_guarded(response)
    html = response.text
    assert "http://" not in html and "https://" not in html and "cdn" not in html.lower()
    parts = PageParts()
    parts.feed(html)
    assert parts.inline == []
    assert parts.urls
    # Relative, not rooted: the page works under a proxy's path prefix too.
    for url in parts.urls + list(parts.data.values()):
        assert not urlsplit(url).scheme and not urlsplit(url).netloc, url
        assert not url.startswith("/"), url
    for url in parts.urls:
        asset = await http.get(urljoin(BASE + page, url))
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[Path(url).suffix]), url
        assert_guarded(asset)


async def test_the_pages_name_the_openapi_document_relative_to_themselves(
    http: httpx.AsyncClient,
) -> None:
    for page in ("/docs", "/redoc"):
        parts = PageParts()
        parts.feed((await http.get(page)).text)
        spec = parts.data.get("data-openapi-url") or parts.data["spec-url"]
        document = await http.get(urljoin(BASE + page, spec))
        assert document.status_code == 200
        assert document.json()["info"]["title"] == "genflow"


async def test_only_the_named_assets_are_served_and_no_docs_route_is_documented(
    http: httpx.AsyncClient,
) -> None:
    for path in (
        "/docs/assets/",
        "/docs/assets",
        "/docs/assets/swagger-ui-bundle.js.map",
        "/docs/assets/__init__.py",
        "/docs/assets/..%2F..%2Fapi%2Fapp.py",
    ):
        assert (await http.get(path)).status_code == 404, path

    paths = (await http.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
    assert "/v1/generations" in paths


class RecordingBrowser(Browser):
    """A Browser that keeps the CDP events it reads while it waits for each answer:
    the requests the page made and what its console reported."""

    def __init__(self, profile: Path, executable: str) -> None:
        super().__init__(profile, executable)
        self.events: list[dict[str, Any]] = []

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def read_events(self) -> None:
        """Read the events sent so far (they arrive before the answer to a command)."""
        await self.evaluate("0")

    def requests(self) -> dict[str, str]:
        """Every request the page made or tried: request id -> URL."""
        return {
            event["params"]["requestId"]: event["params"]["request"]["url"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
        }

    def blocked_by_policy(self) -> set[str]:
        """The ids of requests the Content-Security-Policy stopped before they were sent."""
        return {
            event["params"]["requestId"]
            for event in self.events
            if event["method"] == "Network.loadingFailed"
            and event["params"].get("blockedReason") == "csp"
        }

    def policy_violations(self) -> list[str]:
        texts = [
            event["params"]["entry"]["text"]
            for event in self.events
            if event["method"] == "Log.entryAdded"
        ]
        return [text for text in texts if "Content Security Policy" in text]


# genflow as a browser meets it on a real host name; every other name resolves nowhere.
HOST = "genflow.test"
OFFLINE = [
    "--no-proxy-server",
    f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
CDN_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"


@pytest.fixture
async def offline_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RecordingBrowser]:
    """Headless Chromium that uses no proxy and reaches no host but genflow's."""
    chromium = required_chromium()
    monkeypatch.setattr(tests.browser, "FLAGS", [*tests.browser.FLAGS, *OFFLINE])
    browser = RecordingBrowser(tmp_path / "chromium-profile", chromium)
    try:
        await browser.start()
        await browser.set_viewport(1400, 900)
        for domain in ("Network", "Log"):
            await browser.send(f"{domain}.enable")
        # The browser really is cut off: FastAPI's old CDN page could not have loaded.
        with pytest.raises(CDPError, match="ERR_NAME_NOT_RESOLVED"):
            await browser.navigate(CDN_CSS)
        await browser.read_events()
        browser.events.clear()
        yield browser
    finally:
        await browser.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    """The real app on a loopback port; its base URL under HOST. The docs need neither
    Temporal nor the database: the lifespan gets a stand-in client and an engine that
    never connects."""
    app = create_app(
        Settings(jwt_secret=SECRET, database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db"),
        temporal=cast(Client, object()),
    )
    server, task, base_url = await serve(app)
    try:
        yield base_url.replace("127.0.0.1", HOST)
    finally:
        server.should_exit = True
        await task


def elsewhere(browser: RecordingBrowser, served: str) -> list[str]:
    """The page's requests to other hosts (not the fixture's own probe of the CDN, whose
    events may arrive late)."""
    return [
        url
        for url in browser.requests().values()
        if not url.startswith((f"{served}/", "data:", "blob:")) and url != CDN_CSS
    ]


async def test_swagger_ui_lists_the_operations_with_no_other_host_reachable(
    offline_browser: RecordingBrowser, served: str
) -> None:
    browser = offline_browser

    await browser.navigate(f"{served}/docs")
    await browser.wait_for_text("/v1/generations", "Authorize")
    assert await browser.evaluate("document.querySelectorAll('.opblock').length") >= 10

    # The Authorize button opens the bearer token dialog.
    await browser.evaluate("document.querySelector('.btn.authorize').click()")
    dialog = await browser.wait_for_text("Available authorizations")
    assert "HTTPBearer" in dialog

    await browser.read_events()
    requested = browser.requests().values()
    assert f"{served}/docs/assets/swagger-ui-bundle.js" in requested
    assert f"{served}/openapi.json" in requested
    # Nothing else was even tried (no validator badge), and Swagger UI needed no
    # inline style or script.
    assert elsewhere(browser, served) == []
    assert browser.policy_violations() == []

    # The policy is enforced: a script added inline does not run, and is reported.
    ran = await browser.evaluate(
        "(() => { const s = document.createElement('script');"
        " s.textContent = 'window.inlineRan = true'; document.body.append(s);"
        " return window.inlineRan === true; })()"
    )
    assert ran is False

    async def reported() -> list[str]:
        await browser.read_events()
        return browser.policy_violations()

    violations = await eventually(reported, 10, 0.1, "the inline script's CSP report")
    assert len(violations) == 1 and "script-src" in violations[0], violations


async def test_redoc_renders_the_operations_with_no_other_host_reachable(
    offline_browser: RecordingBrowser, served: str
) -> None:
    browser = offline_browser
    async with httpx.AsyncClient(base_url=served.replace(HOST, "127.0.0.1")) as http:
        create = (await http.get("/openapi.json")).json()["paths"]["/v1/generations"]["post"]

    await browser.navigate(f"{served}/redoc")
    await browser.wait_for_text(create["summary"], "/v1/generations")

    # ReDoc's sidebar asks for Redocly's logo from their CDN: the policy stops it
    # before it is sent. Nothing else leaves, and ReDoc's scripts, styles and search
    # worker all run.
    async def settled() -> bool:
        await browser.read_events()
        outside = {
            rid for rid, url in browser.requests().items() if url in elsewhere(browser, served)
        }
        return outside <= browser.blocked_by_policy()

    await eventually(settled, 10, 0.1, lambda: f"requests elsewhere: {elsewhere(browser, served)}")
    assert [v for v in browser.policy_violations() if "img-src" not in v] == []
