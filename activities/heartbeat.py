"""Heartbeating through an activity's work, so Temporal notices a dead worker within
the heartbeat timeout and a cancel reaches the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity

HEARTBEAT_EVERY = timedelta(seconds=1)

T = TypeVar("T")


async def heartbeat_while(work: Awaitable[T]) -> T:
    """Await `work`, heartbeating every second so a dead worker is noticed within the
    heartbeat timeout and a cancel reaches us; cancelling us cancels `work`."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY.total_seconds())
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()
