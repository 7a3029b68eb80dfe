"""Pipeline benchmark: the builtin `fastapi-service` generation through Temporal
(real dev server, real worker, SQLite read model) beside the same four stage
functions called directly in one process (the naive in-process design).

Prints the median wall time of each stage and of the whole generation, and the
ratio Temporal / in-process. Run: `.venv/bin/python -m bench.pipeline [--runs N]` (as a
module, so that `bench/api.py` does not shadow the `api` package).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from typing import Any, Final

from api.generations.schemas import GenerationCreate
from api.generations.service import GenerationService
from genflow.db.engine import make_engine, make_session_maker, migrate
from genflow.db.projects import ProjectRepository
from genflow.db.repository import GenerationRepository
from genflow.domain import STAGES, TERMINAL_STATUSES
from genflow.pipeline.review.report import review
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.templates import generate_docs
from genflow.providers import SpecRequest
from genflow.providers.builtin import BuiltinProvider
from genflow.settings import Settings
from tests.support import SHOP, eventually, start_dev_server
from worker.assembly import build_worker

PROMPT = SHOP
TEMPLATE: Final = "fastapi-service"


def noop() -> None:
    pass


async def in_process(runs: int) -> dict[str, list[float]]:
    provider, limits = BuiltinProvider(), SandboxLimits(timeout_seconds=120)
    timings: dict[str, list[float]] = {name: [] for name in [*STAGES, "total"]}
    for _ in range(runs):
        started = time.perf_counter()
        request = SpecRequest(PROMPT, TEMPLATE, {}, None)
        spec, _, _ = await provider.extract_spec(request, noop)
        t1 = time.perf_counter()
        files, _ = await provider.generate_files(spec, None, noop)
        t2 = time.perf_counter()
        result = await review(files, limits)
        t3 = time.perf_counter()
        generate_docs(spec, result.score)
        t4 = time.perf_counter()
        for name, seconds in zip(
            [*STAGES, "total"], [t1 - started, t2 - t1, t3 - t2, t4 - t3, t4 - started], strict=True
        ):
            timings[name].append(seconds * 1000)
    return timings


async def through_temporal(runs: int) -> dict[str, list[float]]:
    env = await start_dev_server()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        await migrate(engine)
        settings = Settings(
            database_url=url,
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-{uuid.uuid4()}",
            max_active_per_user=10**6,
            max_creates_per_minute=10**6,
        )
        sessions = make_session_maker(engine)
        repository = GenerationRepository(sessions)
        service = GenerationService(repository, ProjectRepository(sessions), env.client, settings)
        worker = build_worker(env.client, settings, repository)
        timings: dict[str, list[float]] = {name: [] for name in [*STAGES, "total"]}
        async with worker:
            for _ in range(runs):
                started = time.perf_counter()
                row = await service.create(
                    "bench", GenerationCreate(prompt=PROMPT, template=TEMPLATE)
                )
                current = await wait_until_finished(repository, row.id)
                timings["total"].append((time.perf_counter() - started) * 1000)
                assert current is not None and current.status == "completed", current
                for stage in current.stages:
                    timings[stage.name].append(float(stage.duration_ms or 0))
        await engine.dispose()
    await env.shutdown()
    return timings


async def wait_until_finished(repository: GenerationRepository, generation_id: uuid.UUID) -> Any:
    """The generation's row once it is completed, failed or cancelled."""

    async def finished() -> Any:
        current = await repository.get(generation_id)
        return current if current is not None and current.status in TERMINAL_STATUSES else None

    return await eventually(finished, 600, 0.01, f"generation {generation_id} to finish")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    direct = await in_process(args.runs)
    temporal = await through_temporal(args.runs)
    print(f"builtin {TEMPLATE}, 3 entities, {args.runs} runs each, median wall time (ms)")
    print(f"{'stage':<20}{'Temporal':>12}{'in-process':>12}{'ratio':>8}")
    for name in [*STAGES, "total"]:
        through, alone = statistics.median(temporal[name]), statistics.median(direct[name])
        ratio = through / alone if alone else float("inf")
        print(f"{name:<20}{through:>12.1f}{alone:>12.1f}{ratio:>8.2f}")
    print(
        "Temporal stage times are the stored stage durations (activity start to commit); "
        "'total' is create request to completed row, including queueing and the workflow's "
        "own store activities."
    )


if __name__ == "__main__":
    asyncio.run(main())
