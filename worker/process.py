"""The genflow worker process: `python -m worker` (or `genflow worker`)."""

from __future__ import annotations

import asyncio
import logging
import signal

from genflow.db.engine import make_engine, make_session_maker
from genflow.db.repository import GenerationRepository
from genflow.logs import configure as configure_logging
from genflow.pipeline.sandbox.bubblewrap import SandboxUnavailable
from genflow.settings import Settings
from genflow.temporal import connect, metrics_runtime
from genflow.tracing import shutdown_tracing
from worker.assembly import build_worker, sandbox_from
from worker.schedules import ensure_schedules


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
        await check_sandbox(settings)
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


async def check_sandbox(settings: Settings) -> None:
    """Say once, at start-up, whether generated code can run here (fail closed)."""
    log = logging.getLogger("genflow.worker")
    if settings.worker_role == "orchestration" or not settings.run_generated_code:
        return
    sandbox = sandbox_from(settings)
    if sandbox is None:
        log.warning(
            "GENFLOW_UNSAFE_RUN_WITHOUT_SANDBOX is set: generated code runs WITHOUT the OS "
            "sandbox, with rlimits only; it can read this machine's files and network"
        )
        return
    try:
        await sandbox.ensure_available()
    except SandboxUnavailable as err:
        log.error(
            "the sandbox cannot start, so generated code will NOT be run (reviews say "
            "'tests not run: sandbox unavailable'): %s",
            err,
        )


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run_worker(settings))
