"""The floor under a create's latency: how fast the Temporal dev server, persisted to a
SQLite file as `genflow up` runs it, starts workflows, with no worker and no genflow.

    .venv/bin/python -m bench.temporal_starts [--n 800] [--c 16]

Prints the rate and latency of N starts from C concurrent starters, then of 100 starts
one at a time (no budget: a figure for bench/RESULTS.md, "Burst").
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid

from temporalio.client import Client

from bench.measure import percentile
from genflow.supervisor import temporal_binary
from tests.support import free_port


async def start_one(client: Client) -> float:
    started = time.perf_counter()
    await client.start_workflow(
        "GenerationWorkflow", {"x": 1}, id=f"start-{uuid.uuid4()}", task_queue="nobody"
    )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--c", type=int, default=16)
    args = parser.parse_args()
    port, home = free_port(), tempfile.mkdtemp(prefix="genflow-starts-")
    server = await asyncio.create_subprocess_exec(
        temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
        "--headless", "--db-filename", f"{home}/temporal.db", "--log-level", "error",
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(150):
            try:
                client = await Client.connect(f"127.0.0.1:{port}")
                break
            except RuntimeError:
                await asyncio.sleep(0.2)
        for _ in range(50):  # warm-up
            await start_one(client)
        todo, latencies = list(range(args.n)), []

        async def starter() -> None:
            while todo:
                todo.pop()
                latencies.append(await start_one(client))

        began = time.perf_counter()
        await asyncio.gather(*(starter() for _ in range(args.c)))
        wall = time.perf_counter() - began
        print(
            f"{args.n} starts from {args.c} starters: {args.n / wall:.0f} a second, p50 "
            f"{percentile(latencies, 0.5) * 1000:.0f} ms, p95 "
            f"{percentile(latencies, 0.95) * 1000:.0f} ms"
        )
        alone = [await start_one(client) for _ in range(100)]
        print(
            f"100 starts one at a time: p50 {percentile(alone, 0.5) * 1000:.1f} ms, p95 "
            f"{percentile(alone, 0.95) * 1000:.1f} ms"
        )
    finally:
        server.terminate()
        await server.wait()


if __name__ == "__main__":
    asyncio.run(main())
