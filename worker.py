"""The genflow worker process: `python worker.py` (or `genflow worker`)."""

from __future__ import annotations

import asyncio
import logging
import signal

from genflow.db.engine import make_engine, make_session_maker
from genflow.db.repository import GenerationRepository
from genflow.logs import configure as configure_logging
from genflow.settings import Settings
from genflow.temporal import (
    build_worker,
    connect,
    ensure_schedules,
    metrics_runtime,
)
from genflow.tracing import shutdown_tracing


async def run_worker(settings: Settings) -> None:
    """Build settings, engine and client once, then poll the task queue until stopped."""
    engine = make_engine(settings.resolved_database_url)
    try:
        client = await connect(
            settings,
            wait_seconds=30,
            runtime=metrics_runtime(settings),
            service_name=f"{settings.otel_service_name}-worker",
        )
        repository = GenerationRepository(make_session_maker(engine))
        worker = build_worker(client, settings, repository)
        if settings.worker_role != "sandbox":
            await ensure_schedules(client, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        logging.getLogger("genflow.worker").info(
            "worker (%s) polling %s on %s, %d sandbox slot(s)",
            settings.worker_role,
            settings.task_queue,
            settings.resolved_temporal_address,
            settings.sandbox_slots,
        )
        async with worker:  # shuts down gracefully when the block ends
            await stop.wait()
    finally:
        await engine.dispose()
        await asyncio.to_thread(shutdown_tracing)  # export the last spans


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
