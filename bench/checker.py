"""The checker of the `genflow up` benchmarks: each generation a run asked for, read
through the API, the read model (tables `generations`, `generation_events`, `artifacts`,
`idempotency_keys`) and Temporal (`describe()` of `gen-<id>` and a visibility list),
counting lost, duplicated and disagreeing generations."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from bench.genflow_http import Created, GenflowHttp
from bench.postgres import async_url
from genflow.db.engine import make_engine
from genflow.db.models import Artifact, Event, Generation, IdempotencyKey
from genflow.domain import ACTIVE_STATUSES

EXPECTED_WORKFLOW = {
    "completed": {WorkflowExecutionStatus.COMPLETED},
    "failed": {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
    },
    "cancelled": {WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED},
    **{str(status): {WorkflowExecutionStatus.RUNNING} for status in ACTIVE_STATUSES},
}


@dataclass
class CheckResult:
    """Counts over a run's requests, and the problems found, one line each."""

    requests: int = 0
    created: int = 0
    completed: int = 0
    failed: int = 0
    other: int = 0  # not finished
    cancelled: int = 0
    lost: int = 0
    duplicated: int = 0
    disagreements: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    completed_at: list[float] = field(default_factory=list)  # epoch seconds
    problems: list[str] = field(default_factory=list)


async def _check_once(
    requests: Sequence[Created],
    https: dict[str, GenflowHttp],
    database_url: str,
    temporal: Client,
    check_temporal: bool,
    allowed_runs: dict[str, int],
) -> CheckResult:
    result = CheckResult(requests=len(requests))
    users = sorted({r.user for r in requests})
    ids = {r.id for r in requests if r.id is not None}
    result.created = len(ids)

    # The read model, directly.
    engine = make_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            rows = {
                str(row.id): row
                for row in await conn.execute(
                    select(
                        Generation.id,
                        Generation.user_id,
                        Generation.status,
                        Generation.error_code,
                        Generation.completed_at,
                    ).where(Generation.user_id.in_(users))
                )
            }
            keys = {
                (row.user_id, row.key): str(row.generation_id)
                for row in await conn.execute(
                    select(
                        IdempotencyKey.user_id, IdempotencyKey.key, IdempotencyKey.generation_id
                    ).where(IdempotencyKey.user_id.in_(users))
                )
            }
            row_ids = [uuid.UUID(i) for i in rows]
            duplicate_paths = list(
                await conn.execute(
                    select(Artifact.generation_id, Artifact.path, func.count())
                    .where(Artifact.generation_id.in_(row_ids))
                    .group_by(Artifact.generation_id, Artifact.path)
                    .having(func.count() > 1)
                )
            )
            events = list(
                await conn.execute(
                    select(Event.generation_id, Event.event, Event.data).where(
                        Event.generation_id.in_(row_ids), Event.event.in_(["stage", "done"])
                    )
                )
            )
    finally:
        await engine.dispose()

    dup_ids: set[str] = set()
    for artifact_gen, path, n in duplicate_paths:
        dup_ids.add(str(artifact_gen))
        result.problems.append(f"{artifact_gen}: artifact {path} stored {n} times")
    per_stage: Counter[tuple[str, str]] = Counter()
    done: Counter[str] = Counter()
    for event_gen, kind, data in events:
        if kind == "done":
            done[str(event_gen)] += 1
        elif isinstance(data, dict) and data.get("status") == "completed":
            per_stage[(str(event_gen), str(data.get("stage")))] += 1
    # A run of its own (an operator's Reset) writes its own events: one set per run.
    for (gid, stage), n in per_stage.items():
        if n > 1 + allowed_runs.get(gid, 0):
            dup_ids.add(gid)
            result.problems.append(f"{gid}: {n} stage-completed events for {stage}")
    for gid, n in done.items():
        if n > 1 + allowed_runs.get(gid, 0):
            dup_ids.add(gid)
            result.problems.append(f"{gid}: {n} done events")

    # Logical requests: each must have exactly one generation.
    for r in requests:
        if r.id is None:
            result.lost += 1
            result.problems.append(f"request {r.index} ({r.key}) got no generation: {r.error}")
            continue
        if r.id not in rows:
            result.lost += 1
            result.problems.append(f"request {r.index}: generation {r.id} has no row")
        if r.key is not None:
            owner = keys.get((r.user, r.key))
            if owner is not None and owner != r.id:
                dup_ids.add(r.id)
                result.problems.append(f"key {r.key}: client got {r.id}, the key holds {owner}")
    for gid in rows:
        if gid not in ids:
            dup_ids.add(gid)
            result.problems.append(f"generation {gid} belongs to no request (a duplicate)")

    # Each generation through the API, beside its row.
    sem = asyncio.Semaphore(16)

    async def through_api(r: Created) -> tuple[str, Any]:
        assert r.id is not None
        async with sem:
            return r.id, await https[r.user].get(r.id, api=r.index)

    api_rows = dict(await asyncio.gather(*(through_api(r) for r in requests if r.id is not None)))

    for gid in ids:
        row = rows.get(gid)
        seen = api_rows.get(gid)
        if row is None:
            continue
        if seen is None or seen["status"] != row.status:
            result.disagreements += 1
            shown = seen["status"] if seen else "404"
            result.problems.append(f"{gid}: API says {shown}, the read model {row.status}")
        if row.status == "completed":
            result.completed += 1
            if row.completed_at is not None:
                result.completed_at.append(row.completed_at.timestamp())
        elif row.status == "failed":
            result.failed += 1
            result.failures[row.error_code or "?"] += 1
        elif row.status == "cancelled":
            result.cancelled += 1
        else:
            result.other += 1

    # Temporal: every row's workflow in the matching state; no workflow without a row;
    # one run per workflow id.
    if check_temporal:

        async def describe(gid: str) -> tuple[str, WorkflowExecutionStatus | None]:
            async with sem:
                try:
                    desc = await temporal.get_workflow_handle(f"gen-{gid}").describe()
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        return gid, None
                    raise
                return gid, desc.status

        described = dict(await asyncio.gather(*(describe(g) for g in rows)))
        for gid, row in rows.items():
            status = described.get(gid)
            if status is None or status not in EXPECTED_WORKFLOW.get(row.status, set()):
                result.disagreements += 1
                shown = status.name if status else "no workflow"
                result.problems.append(f"{gid}: row {row.status}, workflow {shown}")
        runs: Counter[str] = Counter()
        quoted = ", ".join(f"'{u}'" for u in users)
        query = f"WorkflowType = 'GenerationWorkflow' AND UserId IN ({quoted})"
        async for execution in temporal.list_workflows(query):
            runs[execution.id.removeprefix("gen-")] += 1
        for gid, n in runs.items():
            if gid not in rows:
                result.lost += 1
                result.problems.append(f"workflow gen-{gid} has no row")
            if n > 1 + allowed_runs.get(gid, 0):
                dup_ids.add(gid)
                result.problems.append(f"workflow gen-{gid} ran {n} times")

    result.duplicated = len(dup_ids)
    return result


async def check(
    requests: Sequence[Created],
    https: dict[str, GenflowHttp],
    database_url: str,
    temporal_address: str,
    settle: float = 30.0,
    check_temporal: bool = True,
    allowed_runs: dict[str, int] | None = None,
) -> CheckResult:
    """Compare every generation of `requests` across the API, the read model at
    `database_url` and Temporal; re-check for up to `settle` seconds while they
    disagree (the read model follows a workflow's close within seconds)."""
    temporal = await Client.connect(temporal_address)
    deadline = time.monotonic() + settle
    while True:
        result = await _check_once(
            requests, https, database_url, temporal, check_temporal, allowed_runs or {}
        )
        if (result.disagreements == 0 and result.lost == 0) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(2)


def recovery_times(faults: Sequence[float], completions: Sequence[float]) -> list[float | None]:
    """For each fault (epoch seconds), seconds until the first completion after it."""
    ordered = sorted(completions)
    out: list[float | None] = []
    for fault in faults:
        after = next((c for c in ordered if c > fault), None)
        out.append(None if after is None else after - fault)
    return out


def first_problems(problems: Sequence[str], limit: int = 8) -> list[str]:
    grouped: dict[str, int] = defaultdict(int)
    out: list[str] = []
    for problem in problems:
        grouped[problem] += 1
        if grouped[problem] == 1 and len(out) < limit:
            out.append(problem)
    if len(problems) > len(out):
        out.append(f"... and {len(problems) - len(out)} more")
    return out
