"""`genflow up` restarts a dead child at once after a healthy run and backs off only
while it keeps dying young."""

from __future__ import annotations

from pathlib import Path

from genflow.supervisor import HEALTHY_SECONDS, MAX_BACKOFF_SECONDS, Child


def child_started_at(*times: float) -> Child:
    child = Child("worker", ["true"], {}, Path("/dev/null"))
    child.started.extend(times)
    return child


def test_a_child_that_keeps_dying_young_backs_off_and_a_healthy_run_resets_it() -> None:
    child = child_started_at(0.0)
    delays = []
    now = 0.0
    for _ in range(7):
        now += 1.0  # dies one second after each start
        delays.append(child.restart_delay(now))
        child.started.append(now)
    assert delays == [0.0, 1.0, 2.0, 4.0, MAX_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, 5.0]

    hour_later = now + 3600
    assert child.restart_delay(hour_later) == 0.0  # crashed after an hour: at once
    child.started.append(hour_later)
    assert child.restart_delay(hour_later + HEALTHY_SECONDS / 2) == 1.0


def test_crashes_several_seconds_apart_after_healthy_runs_restart_at_once() -> None:
    child = child_started_at(0.0)
    now = 0.0
    for _ in range(5):
        now += HEALTHY_SECONDS + 1
        assert child.restart_delay(now) == 0.0
        child.started.append(now)
