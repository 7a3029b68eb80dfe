"""The event log of a generation (what the stream replays): appended once per key, in
the same transaction as the change it reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from genflow.db.models import Event, Generation, utcnow
from genflow.domain import EventType

# Built once: a statement built per call cost more of the writer's time than running it.
_KEYS_SEEN = select(Event.key).where(
    Event.generation_id == bindparam("generation_id"),
    Event.key.in_(bindparam("keys", expanding=True)),
)
_INSERT = insert(Event)


async def append(
    session: AsyncSession,
    generation: Generation,
    key: str,
    event: EventType,
    data: dict[str, Any],
) -> bool:
    """Append an event once: a second call with the same key does nothing (False)."""
    return bool(await append_all(session, generation, [(key, event, data)]))


async def append_all(
    session: AsyncSession,
    generation: Generation,
    events: Sequence[tuple[str, EventType, dict[str, Any]]],
) -> list[str]:
    """Append each (key, event, data) whose key is new for this generation, in
    order, with one query for the keys already there and one insert; returns the
    keys appended."""
    if not events:
        return []
    if generation.run_epoch:  # after a Reset, the new run's events are new events
        events = [(f"{key}#{generation.run_epoch}", e, d) for key, e, d in events]
    keys = [key for key, _, _ in events]
    seen = set(await session.scalars(_KEYS_SEEN, {"generation_id": generation.id, "keys": keys}))
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for key, event, data in events:
        if key in seen:
            continue
        seen.add(key)
        generation.last_event_id += 1
        rows.append(
            {
                "generation_id": generation.id,
                "id": generation.last_event_id,
                "key": key,
                "event": str(event),
                "data": data,
                "created_at": now,
            }
        )
    if rows:
        generation.updated_at = now
        await session.execute(_INSERT, rows)
    return [str(row["key"]) for row in rows]


async def finish_events(session: AsyncSession, generation: Generation) -> None:
    error = (
        {"code": generation.error_code, "message": generation.error_message}
        if generation.error_code
        else None
    )
    await append(
        session,
        generation,
        f"status:{generation.status}",
        EventType.STATUS,
        {"status": generation.status},
    )
    await append(
        session,
        generation,
        "done",
        EventType.DONE,
        {
            "status": generation.status,
            "quality_score": generation.quality_score,
            "error": error,
        },
    )


def stage_event(
    stage: str, status: str, keyed_by_attempt: bool = True, **data: Any
) -> tuple[str, EventType, dict[str, Any]]:
    """A `stage` event of `status`, for `append`: keyed once per attempt when it has
    an `attempt` and `keyed_by_attempt`, else once per stage and status."""
    key = f"stage:{stage}:{status}"
    if keyed_by_attempt and "attempt" in data:
        key += f":{data['attempt']}"
    return key, EventType.STAGE, {"stage": stage, "status": status, **data}


def elapsed_ms(start: datetime | None, end: datetime) -> int | None:
    return None if start is None else int((end - start).total_seconds() * 1000)
