"""The API client of the `genflow up` benchmarks: one user's client over one or more API
processes that creates generations the way a careful client does (connection errors,
503 and 429 retried, honoring Retry-After; 409 and 5xx retried only under an
Idempotency-Key), and counts every HTTP answer it sees."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bench.workload import token
from genflow.domain import TERMINAL_STATUSES
from tests.support import eventually


@dataclass
class HttpStats:
    """Every HTTP answer and connection failure seen by the clients."""

    codes: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    ambiguous_errors: int = 0
    retries: int = 0

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.codes.items()))
        return (
            f"HTTP {codes or 'none'}; connection errors {self.connection_errors} "
            f"(after sending: {self.ambiguous_errors}); retries {self.retries}"
        )


@dataclass
class Created:
    """One logical create request and what became of it."""

    index: int
    key: str | None
    user: str
    api: int
    sent_at: float = 0.0  # time.time() of the first attempt
    latency: float = math.nan  # first attempt to the accepted answer, retries included
    attempts: int = 0
    id: str | None = None
    error: str | None = None
    operator: str | None = None  # what an operator did to its workflow (chaos: operator)


def _retry_after(response: httpx.Response, default: float = 1.0) -> float:
    try:
        return min(10.0, max(0.05, float(response.headers.get("retry-after", default))))
    except ValueError:
        return default


class GenflowHttp:
    """One user's client over one or more API base URLs."""

    def __init__(
        self, base_urls: list[str], user: str, stats: HttpStats, timeout: float = 30.0
    ) -> None:
        self.user = user
        self.stats = stats
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        self.clients = [
            httpx.AsyncClient(
                base_url=url,
                headers={"Authorization": f"Bearer {token(user)}"},
                timeout=timeout,
                limits=limits,
            )
            for url in base_urls
        ]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def create(
        self,
        request: dict[str, Any],
        created: Created,
        give_up_after: float = 300.0,
    ) -> Created:
        """POST /v1/generations until accepted: connection errors before sending are
        retried always; after sending, and 409/500, only under an Idempotency-Key;
        503/429 after their Retry-After."""
        http = self.clients[created.api % len(self.clients)]
        headers = {"Idempotency-Key": created.key} if created.key else {}
        created.sent_at = time.time()
        started = time.perf_counter()
        while True:
            created.attempts += 1
            if created.attempts > 1:
                self.stats.retries += 1
            wait = 0.2
            try:
                response = await http.post("/v1/generations", json=request, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
                self.stats.connection_errors += 1
                created.error = f"{type(err).__name__}"
            except httpx.TransportError as err:
                self.stats.connection_errors += 1
                self.stats.ambiguous_errors += 1
                created.error = f"{type(err).__name__} after sending"
                if not created.key:
                    return created  # maybe created, maybe not: not safe to repeat
            else:
                code = response.status_code
                self.stats.codes[code] += 1
                if 200 <= code < 300:
                    created.id = str(response.json()["id"])
                    created.latency = time.perf_counter() - started
                    created.error = None
                    return created
                created.error = f"HTTP {code}: {response.text[:200]}"
                if code in (429, 503) or (code in (409, 500, 502, 504) and created.key):
                    wait = _retry_after(response)
                else:
                    return created
            if time.perf_counter() - started > give_up_after:
                return created
            await asyncio.sleep(wait * random.uniform(0.8, 1.2))

    async def get(self, generation_id: str, api: int = 0, give_up_after: float = 60.0) -> Any:
        """GET one generation (None: 404), retrying connection errors and 5xx."""
        http = self.clients[api % len(self.clients)]
        deadline = time.monotonic() + give_up_after
        while True:
            try:
                response = await http.get(f"/v1/generations/{generation_id}")
            except httpx.TransportError:
                self.stats.connection_errors += 1
            else:
                self.stats.codes[response.status_code] += 1
                if response.status_code == 200:
                    return response.json()
                if response.status_code == 404:
                    return None
            if time.monotonic() > deadline:
                raise RuntimeError(f"GET {generation_id} kept failing")
            await asyncio.sleep(0.5)

    async def finished(self, generation_id: str, timeout: float = 600.0) -> dict[str, Any]:
        """GET the generation until it is completed, failed or cancelled."""

        async def terminal() -> Any:
            row = await self.get(generation_id)
            return row if row is not None and row["status"] in TERMINAL_STATUSES else None

        found: dict[str, Any] = await eventually(
            terminal, timeout, 0.2, f"generation {generation_id} to finish"
        )
        return found

    async def wait_terminal(
        self,
        ids: Iterable[str],
        since: datetime,
        timeout: float,
        interval: float = 1.0,
        stall: float | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Poll the list of this user's finished generations (created after `since`)
        until every one of `ids` is in it, `timeout` passes, or (with `stall`) none
        finished for `stall` seconds; errors just skip a round."""
        outstanding = set(ids)
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        progress = time.monotonic()
        round_ = 0
        params: list[tuple[str, str | int | float | bool | None]]
        params = [("status", str(s)) for s in sorted(TERMINAL_STATUSES)]
        params += [("created_after", since.isoformat()), ("limit", "100")]
        while outstanding and time.monotonic() < deadline:
            http = self.clients[round_ % len(self.clients)]
            round_ += 1
            cursor: str | None = None
            try:
                while True:
                    page = params + ([("cursor", cursor)] if cursor else [])
                    response = await http.get("/v1/generations", params=page)
                    self.stats.codes[response.status_code] += 1
                    if response.status_code != 200:
                        break
                    data = response.json()
                    for item in data["items"]:
                        if item["id"] in outstanding:
                            outstanding.discard(item["id"])
                            found[item["id"]] = item
                            progress = time.monotonic()
                    cursor = data.get("next_cursor")
                    if not cursor or not outstanding:
                        break
            except httpx.TransportError:
                self.stats.connection_errors += 1
            if stall is not None and time.monotonic() - progress > stall:
                break
            if outstanding:
                await asyncio.sleep(interval)
        return found
