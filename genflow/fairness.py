"""How a generation's tasks share Temporal's queues with every other user's.

Every task a generation puts on a queue (its workflow tasks, each stage, the review)
carries a `Priority`: the request's priority as `priority_key` (Temporal dispatches a
lower key first), then, within one priority, the user as `fairness_key`, so each user
with a backlog gets a share of the dispatches in proportion to their weight instead of
waiting behind everyone who queued first. The workflow's priority is set when the API
starts it; the workflow passes it on to each stage (workflows/generation.py)."""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

from temporalio.common import Priority

from genflow.settings import Settings

PriorityName = Literal["interactive", "normal", "batch"]
PRIORITY_NAMES: tuple[str, ...] = get_args(PriorityName)
DEFAULT_PRIORITY: PriorityName = "normal"
# Temporal's priority keys run from 1 (first) to 5 (last); 3 is the default of a task
# that sets none, such as the housekeeping workflows.
PRIORITY_KEYS: dict[str, int] = {"interactive": 1, "normal": 3, "batch": 5}


def user_weight(settings: Settings, user_id: str) -> float:
    """The user's share of a queue relative to others: a per-user override, else the
    weight of the user's tier, else the default."""
    if user_id in settings.fairness_user_weights:
        return settings.fairness_user_weights[user_id]
    tier = settings.fairness_user_tiers.get(user_id)
    if tier is not None and tier in settings.fairness_tier_weights:
        return settings.fairness_tier_weights[tier]
    return settings.fairness_default_weight


def fairness_key(user_id: str) -> str:
    """The user id, or a digest of it when it is over Temporal's 64 bytes."""
    if len(user_id.encode()) <= 64:
        return user_id
    return "sha256:" + hashlib.sha256(user_id.encode()).hexdigest()[:57]


def task_priority(settings: Settings, user_id: str, priority: str | None) -> Priority:
    """The `Priority` of every task of a generation of `user_id`. With fairness off
    (`GENFLOW_FAIRNESS=false`) no fairness key is set: one queue, first in first out
    within a priority."""
    key = PRIORITY_KEYS.get(priority or DEFAULT_PRIORITY, PRIORITY_KEYS[DEFAULT_PRIORITY])
    if not settings.fairness:
        return Priority(priority_key=key)
    return Priority(
        priority_key=key,
        fairness_key=fairness_key(user_id),
        fairness_weight=user_weight(settings, user_id),
    )


def dev_server_flags(fairness: bool = True) -> list[str]:
    """Dynamic configuration for a Temporal dev server genflow starts itself: fairness
    on (when enabled), and one partition per task queue, because fairness orders the
    tasks within a partition and a single dev server gains nothing from more."""
    flags = [
        "matching.numTaskqueueReadPartitions=1",
        "matching.numTaskqueueWritePartitions=1",
        f"matching.enableFairness={'true' if fairness else 'false'}",
    ]
    return [arg for flag in flags for arg in ("--dynamic-config-value", flag)]
