"""Latency sampling for the benchmarks: timed requests from concurrent clients, nearest-rank
percentiles, CPU time per request, and the table of figures against their budgets with
PASS/FAIL."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx


def log(message: str) -> None:
    """A progress line, with the time of day."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Result:
    """The figures of one operation at one concurrency, against its p95 budget."""

    name: str
    concurrency: int
    budget_ms: float | None
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    items: int | None = None
    note: str = ""
    capped: bool = False
    load: float | None = None  # the 1-minute load average when the operation ended
    server_cpu_ms: float | None = None  # API process CPU time per request
    client_cpu_ms: float | None = None  # this process's CPU time per request

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def non_2xx(self) -> int:
        bad = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return bad + sum(self.failures.values())

    def percentile(self, fraction: float) -> float | None:
        """Nearest rank; None before any sample."""
        return percentile(self.latencies_ms, fraction) if self.latencies_ms else None

    @property
    def verdict(self) -> str:
        p95 = self.percentile(0.95)
        if self.budget_ms is None:
            return "-"
        if p95 is None or self.non_2xx or "WRONG" in self.note:
            return "FAIL"
        return "PASS" if p95 < self.budget_ms else "FAIL"


async def measure(
    client: httpx.AsyncClient,
    result: Result,
    request: Callable[[int], tuple[str, str, dict[str, Any] | None]],
    samples: int,
    warmup: int,
    max_seconds: float,
    cpu_seconds: Callable[[], float] | None = None,
) -> httpx.Response | None:
    """Send `warmup` then `samples` requests from `result.concurrency` clients; record
    the latency of the latter, and the API process's CPU time per request when
    `cpu_seconds` measures it. Returns the last 2xx response."""
    last: httpx.Response | None = None
    counter = 0
    stop_at = math.inf

    async def one(index: int, record: bool) -> None:
        nonlocal last
        method, url, body = request(index)
        started = time.perf_counter()
        try:
            response = await client.request(method, url, json=body)
        except httpx.HTTPError as err:
            elapsed = (time.perf_counter() - started) * 1000
            if record:
                result.latencies_ms.append(elapsed)
                result.failures[type(err).__name__] += 1
            return
        elapsed = (time.perf_counter() - started) * 1000
        if record:
            result.latencies_ms.append(elapsed)
            result.statuses[response.status_code] += 1
        if response.is_success:
            last = response

    async def worker(total: int, record: bool) -> None:
        nonlocal counter
        while counter < total and time.monotonic() < stop_at:
            index = counter
            counter += 1
            await one(index, record)

    await asyncio.gather(*(worker(warmup, False) for _ in range(result.concurrency)))
    counter = 0
    cpu_before = cpu_seconds() if cpu_seconds else None
    client_before = time.process_time()
    started = time.perf_counter()
    stop_at = time.monotonic() + max_seconds
    await asyncio.gather(*(worker(samples, True) for _ in range(result.concurrency)))
    result.wall_seconds = time.perf_counter() - started
    if result.count:
        result.client_cpu_ms = (time.process_time() - client_before) * 1000 / result.count
    if cpu_seconds is not None and cpu_before is not None and result.count:
        result.server_cpu_ms = (cpu_seconds() - cpu_before) * 1000 / result.count
    result.capped = result.count < samples
    result.load = os.getloadavg()[0]
    return last


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(results: list[Result]) -> None:
    """The figures of every operation, a legend, and how many budgets failed."""
    header = [
        "operation",
        "conc",
        "n",
        "p50 ms",
        "p95 ms",
        "budget",
        "verdict",
        "non-2xx",
        "api cpu ms",
        "client cpu ms",
        "items",
        "load",
        "notes",
    ]
    rows: list[list[str]] = []
    for r in results:
        bad = ", ".join(
            [f"{status}x{n}" for status, n in sorted(r.statuses.items()) if status >= 300]
            + [f"{kind}x{n}" for kind, n in r.failures.items()]
        )
        notes = "; ".join(
            part for part in (r.note, "time-capped" if r.capped and r.count else "") if part
        )
        rows.append(
            [
                r.name,
                str(r.concurrency),
                str(r.count),
                _ms(r.percentile(0.5)),
                _ms(r.percentile(0.95)),
                "-" if r.budget_ms is None else f"p95<{r.budget_ms:.0f}",
                r.verdict if r.count or r.budget_ms is None else "FAIL",
                f"{r.non_2xx}" + (f" ({bad})" if bad else ""),
                _ms(r.server_cpu_ms),
                _ms(r.client_cpu_ms),
                "-" if r.items is None else str(r.items),
                "-" if r.load is None else f"{r.load:.1f}",
                notes,
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {1, 2, 3, 4, 8, 9, 11}

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print()
    for legend in (
        "conc: concurrent clients; n: timed requests, after a warm-up.",
        "non-2xx: answers outside 200-299, and broken connections.",
        "api cpu ms: CPU time the API process spent per request; client cpu ms: the same for",
        "  this process (httpx, and the API too with --in-process). items: items on the last",
        "  page, each checked against its filter.",
        "load: the 1-minute load average when the operation ended.",
    ):
        print(legend)
    failed = [r.name for r in results if r.budget_ms is not None and r.verdict != "PASS"]
    print()
    print(
        f"{len(failed)} of {sum(r.budget_ms is not None for r in results)} budgets failed"
        + (": " + ", ".join(failed) if failed else "")
    )
