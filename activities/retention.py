"""The retention schedule's activity (genflow.db.retention)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from genflow.contracts import RetentionInput
from genflow.db.models import utcnow
from genflow.db.retention import Cutoffs, RetentionRepository


class RetentionActivities:
    def __init__(self, retention: RetentionRepository) -> None:
        self._retention = retention

    @activity.defn(name="purge_expired")
    async def purge_expired(self, input: RetentionInput) -> dict[str, int]:
        """Delete expired idempotency keys, old tombstones and orphaned inputs, and
        finished generations past the retention when one is set; idempotent."""
        now = utcnow()
        days = input.generation_retention_days
        purged = await self._retention.purge(
            Cutoffs(
                idempotency_keys=now - timedelta(hours=input.idempotency_ttl_hours),
                tombstones=now - timedelta(hours=input.tombstone_ttl_hours),
                stored_inputs=now - timedelta(hours=input.tombstone_ttl_hours),
                generations=now - timedelta(days=days) if days is not None else None,
            )
        )
        activity.logger.info("retention purged %s", purged)
        return purged
