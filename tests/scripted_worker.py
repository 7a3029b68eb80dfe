"""A real worker process running ScriptedStages, for tests that kill workers.
Configured like `genflow worker`: DATABASE_URL, TEMPORAL_ADDRESS, GENFLOW_TASK_QUEUE."""

from __future__ import annotations

import asyncio

from genflow.db.engine import make_engine, make_session_maker
from genflow.db.repository import GenerationRepository
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.settings import Settings
from genflow.temporal import connect
from tests.scripted import ScriptedStages
from worker.assembly import build_worker
from worker.schedules import ensure_schedules


async def main() -> None:
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    repository = GenerationRepository(make_session_maker(engine))
    client = await connect(settings, wait_seconds=30)
    worker = build_worker(client, settings, repository, ScriptedStages(repository, SandboxLimits()))
    await ensure_schedules(client, settings)
    print("worker ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
