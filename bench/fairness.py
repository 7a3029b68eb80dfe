"""Fair queues under a backlog: H heavy users fill their active limit, then a quiet user
starts one generation. Prints the quiet generation's time alone and during the backlog,
and its finishing position, with fairness on and then off (GENFLOW_FAIRNESS), each on a
fresh `genflow up` (SQLite, builtin provider, generated tests run).

Budget with fairness on: the quiet generation finishes within the first 15% of the
completions after its create, and in at most max(10 x its time alone, 15 s).

    .venv/bin/python -m bench.fairness [--heavy 8] [--per-user 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.genflow_http import Created, GenflowHttp, HttpStats
from bench.stack import Stack
from bench.workload import MIX

QUIET_USER = "quiet-user"


@dataclass
class Outcome:
    alone_seconds: float
    backlog_seconds: float
    position: int  # among all completions of the run, 1-based
    total: int
    after_create: int  # completions that ended after the quiet create
    rank_after_create: int  # the quiet one's place among those, 1-based

    @property
    def share(self) -> float:
        return self.rank_after_create / max(1, self.after_create)


def _seconds(row: dict[str, Any]) -> float:
    created = datetime.fromisoformat(row["created_at"])
    completed = datetime.fromisoformat(row["completed_at"])
    return (completed - created).total_seconds()


async def one(http: GenflowHttp, index: int) -> dict[str, Any]:
    created = await http.create(
        MIX[index % len(MIX)], Created(index=index, key=None, user=http.user, api=0)
    )
    if created.id is None:
        raise RuntimeError(f"create failed for {http.user}: {created.error}")
    row = await http.finished(created.id)
    if row["status"] != "completed":
        raise RuntimeError(f"{http.user}'s generation ended {row['status']}: {row['error']}")
    return row


async def run(fairness: bool, heavy: int, per_user: int, timeout: float) -> Outcome:
    stack = Stack(
        {
            "GENFLOW_FAIRNESS": "true" if fairness else "false",
            "GENFLOW_MAX_ACTIVE_PER_USER": str(per_user),
        }
    )
    stats = HttpStats()
    quiet = GenflowHttp([stack.api_url], QUIET_USER, stats)
    heavies = [GenflowHttp([stack.api_url], f"heavy-{i}", stats) for i in range(heavy)]
    try:
        await stack.start()
        await one(quiet, 0)  # warm-up
        alone = statistics.median([_seconds(await one(quiet, i)) for i in range(3)])
        since = datetime.now(UTC)

        async def fill(http: GenflowHttp) -> list[str]:
            ids = []
            for i in range(per_user):
                made = await http.create(
                    MIX[i % len(MIX)], Created(index=i, key=None, user=http.user, api=0)
                )
                if made.id is None:
                    raise RuntimeError(f"create failed for {http.user}: {made.error}")
                ids.append(made.id)
            return ids

        backlog = await asyncio.gather(*(fill(http) for http in heavies))
        quiet_row = await one(quiet, 1)
        rows = [quiet_row]
        for http, ids in zip(heavies, backlog, strict=True):
            found = await http.wait_terminal(ids, since, timeout)
            if len(found) < len(ids):
                raise RuntimeError(f"{http.user}: {len(ids) - len(found)} did not finish")
            rows += found.values()
    finally:
        for http in [quiet, *heavies]:
            await http.aclose()
        await stack.stop()
        stack.cleanup()
    rows.sort(key=lambda row: row["completed_at"])
    order = [row["id"] for row in rows]
    after = [row for row in rows if row["completed_at"] > quiet_row["created_at"]]
    return Outcome(
        alone_seconds=alone,
        backlog_seconds=_seconds(quiet_row),
        position=order.index(quiet_row["id"]) + 1,
        total=len(rows),
        after_create=len(after),
        rank_after_create=[row["id"] for row in after].index(quiet_row["id"]) + 1,
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--heavy", type=int, default=8, help="heavy users")
    parser.add_argument("--per-user", type=int, default=20, help="each heavy user's backlog")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for a backlog")
    args = parser.parse_args()
    print(f"genflow fairness benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  command: .venv/bin/python -m bench.fairness {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"  machine: {len(os.sched_getaffinity(0))} CPU cores (shared), load "
        f"{os.getloadavg()[0]:.1f}; genflow up, SQLite, builtin provider, generated tests run"
    )
    print(
        f"  backlog: {args.heavy} heavy users x {args.per_user} generations, then 1 quiet "
        "generation"
    )
    met = True
    for fairness in (True, False):
        started = time.monotonic()
        outcome = await run(fairness, args.heavy, args.per_user, args.timeout)
        bound = max(10 * outcome.alone_seconds, 15.0)
        print(
            f"\n  fairness {'on' if fairness else 'off'} ({time.monotonic() - started:.0f} s):\n"
            f"    quiet generation alone: {outcome.alone_seconds:.2f} s (median of 3)\n"
            f"    during the backlog: {outcome.backlog_seconds:.2f} s "
            f"({outcome.backlog_seconds / outcome.alone_seconds:.1f} x alone)\n"
            f"    finished {outcome.position} of {outcome.total}; "
            f"{outcome.rank_after_create} of the {outcome.after_create} completions after its "
            f"create ({outcome.share:.0%})"
        )
        if fairness:
            checks = [
                ("within the first 15% of completions after its create", outcome.share <= 0.15),
                (f"within max(10 x alone, 15 s) = {bound:.1f} s", outcome.backlog_seconds <= bound),
            ]
            for name, ok in checks:
                print(f"    budget {'met' if ok else 'NOT MET'}: {name}")
                met = met and ok
        sys.stdout.flush()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
