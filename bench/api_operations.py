"""The operations `bench/api.py` times against the seeded dataset, with their budgets:
get, the list (first page, each filter alone, a page 50 pages deep), the statistics (one
client each) and create (1, then `--concurrency` clients). Every page is checked to hold
only the user's items matching its filter (a filter the API ignored would still answer
200)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.dataset import BENCH_USER, CREATE_PROMPT, SEARCH_WORD
from bench.measure import Result, log, measure
from bench.seed import Dataset
from bench.servers import Server
from genflow.auth import issue_token

JWT_SECRET = "bench-secret-" + "x" * 40  # the servers' and the bench user's token's
CREATE_BUDGET_MS = 30.0
READ_BUDGET_MS = 15.0
STATISTICS_BUDGET_MS = 150.0
DEEP_PAGES = 50

Check = Callable[[dict[str, Any]], bool]


def check_page(result: Result, response: httpx.Response | None, check: Check | None) -> None:
    """Record the item count of the last page and whether every item is the user's and
    matches the filter (a filter the API ignores would still answer 200)."""
    if response is None:
        result.note = "no 2xx answer"
        return
    body = response.json()
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        result.note = "not a page"
        return
    result.items = len(items)
    wrong = [
        item
        for item in items
        if item.get("user_id") != BENCH_USER or (check is not None and not check(item))
    ]
    if wrong:
        result.note = f"WRONG: {len(wrong)} of {len(items)} items do not match"
    elif not items:
        result.note = "empty page"


def _created(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(item["created_at"]).replace("Z", "+00:00"))


def _quality(item: dict[str, Any]) -> float:
    value = item.get("quality_score")
    return float(value) if value is not None else math.nan


async def deep_cursor(client: httpx.AsyncClient, pages: int) -> tuple[str | None, str]:
    """The cursor of page `pages + 1` of the list with limit=100, or None and why not."""
    cursor: str | None = None
    for page in range(pages):
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/generations", params=params)
        if not response.is_success:
            return None, f"page {page + 1} answered {response.status_code}"
        cursor = response.json().get("next_cursor")
        if not cursor:
            return None, f"no next_cursor after page {page + 1}"
    return cursor, ""


async def run_benchmarks(
    server: Server, dataset: Dataset, args: argparse.Namespace
) -> list[Result]:
    """Time each operation `args.only` wants, as the bench user, in the table's order."""
    token = issue_token(BENCH_USER, JWT_SECRET, 3600)
    now = datetime.now(UTC)
    after = now - timedelta(days=7)
    before = now - timedelta(days=50)
    limits = httpx.Limits(max_connections=args.concurrency + 4, max_keepalive_connections=64)
    results: list[Result] = []
    samples, warmup, cap, cpu = args.samples, args.warmup, args.max_seconds, server.cpu_seconds

    def wanted(name: str) -> bool:
        return not args.only or any(part in name for part in args.only)

    async with httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=60,
    ) as client:

        async def read(
            name: str,
            path: str,
            budget: float | None,
            check: Check | None = None,
            page: bool = False,
            sample_count: int = samples,
        ) -> None:
            if not wanted(name):
                return
            result = Result(name, 1, budget)
            log(f"measuring {name}")
            last = await measure(
                client, result, lambda _: ("GET", path, None), sample_count, warmup, cap, cpu
            )
            if page:
                check_page(result, last, check)
            results.append(result)

        await read("GET /healthz (harness floor)", "/healthz", None)

        get = Result("GET /v1/generations/{id}", 1, READ_BUDGET_MS)
        if wanted(get.name):
            log(f"measuring {get.name}")
            ids = dataset.sample_ids
            await measure(
                client,
                get,
                lambda i: ("GET", f"/v1/generations/{ids[i % len(ids)]}", None),
                samples,
                warmup,
                cap,
                cpu,
            )
            get.note = f"{len(ids)} different ids"
            results.append(get)

        lists: list[tuple[str, dict[str, Any], Check | None]] = [
            ("list first page", {}, None),
            (
                "list status=completed",
                {"status": "completed"},
                lambda i: i["status"] == "completed",
            ),
            (
                "list project_id=<one>",
                {"project_id": dataset.project_id},
                lambda i: i["project_id"] == dataset.project_id,
            ),
            ("list min_quality=90", {"min_quality": 90}, lambda i: _quality(i) >= 90),
            ("list max_quality=10", {"max_quality": 10}, lambda i: _quality(i) <= 10),
            (
                "list created_after=-7d",
                {"created_after": after.isoformat()},
                lambda i: _created(i) > after,
            ),
            (
                "list created_before=-50d",
                {"created_before": before.isoformat()},
                lambda i: _created(i) < before,
            ),
            ("list tag=api", {"tag": "api"}, lambda i: "api" in i["tags"]),
            (
                f"list q={SEARCH_WORD}",
                {"q": SEARCH_WORD},
                lambda i: SEARCH_WORD in f"{i['title'] or ''} {i['prompt']}".lower(),
            ),
        ]
        for name, extra, check in lists:
            params = httpx.QueryParams({"limit": 20, **extra})
            await read(name, f"/v1/generations?{params}", READ_BUDGET_MS, check=check, page=True)

        deep_name = f"list page {DEEP_PAGES + 1} (limit=100)"
        cursor, why = await deep_cursor(client, DEEP_PAGES) if wanted(deep_name) else (None, "")
        if cursor is None:
            if wanted(deep_name):
                results.append(Result(deep_name, 1, READ_BUDGET_MS, note=f"skipped: {why}"))
        else:
            deep_path = f"/v1/generations?{httpx.QueryParams({'limit': 100, 'cursor': cursor})}"
            await read(deep_name, deep_path, READ_BUDGET_MS, page=True)

        await read(
            "GET /v1/generations/statistics", "/v1/generations/statistics", STATISTICS_BUDGET_MS
        )

        body = {"prompt": CREATE_PROMPT}
        # One client first: the service time of a create, without queueing; then the
        # budgeted figure at `--concurrency` clients.
        for concurrency, count, budget in (
            (1, min(samples, args.creates), None),
            (args.concurrency, args.creates, CREATE_BUDGET_MS),
        ):
            create = Result("POST /v1/generations", concurrency, budget)
            if not wanted(create.name):
                continue
            log(f"measuring {create.name} ({count} requests, {concurrency} clients)")
            await measure(
                client,
                create,
                lambda _: ("POST", "/v1/generations", body),
                count,
                max(concurrency * 3, warmup),
                cap,
                cpu,
            )
            if create.count:
                create.note = f"{create.count / create.wall_seconds:.0f} req/s"
            results.append(create)
    return results
