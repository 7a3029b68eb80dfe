"""Following a generation's event stream: a live progress display on a terminal,
one line per event when piped."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from genflow.cli.common import TERMINAL_OK, score
from genflow.client import GenflowClient


def watch_generation(client: GenflowClient, generation_id: str, console: Console) -> int:
    """Follow the stream to `done`: 0 if the generation completed, else 1."""
    if console.is_terminal:
        done = _watch_live(client, generation_id, console)
    else:
        done = _watch_plain(client, generation_id)
    if done is None:
        typer.echo("error: the stream ended without a result", err=True)
        return 1
    return 0 if done.get("status") == TERMINAL_OK else 1


def _done_line(done: dict[str, Any]) -> str:
    return f"done {done.get('status')} quality {score(done.get('quality_score'))}"


def _watch_plain(client: GenflowClient, generation_id: str) -> dict[str, Any] | None:
    attempts: dict[str, int] = {}
    for event in client.stream_events(generation_id):
        data = event.data
        if event.event == "stage":
            stage = str(data.get("stage"))
            attempt = int(data.get("attempt") or attempts.get(stage, 1))
            attempts[stage] = attempt
            typer.echo(f"{stage} {data.get('status')} attempt {attempt}")
        elif event.event == "done":
            typer.echo(_done_line(data))
            error = data.get("error")
            if error:
                typer.echo(f"error {error.get('code')}: {error.get('message')}")
            return data
    return None


def _watch_live(
    client: GenflowClient, generation_id: str, console: Console
) -> dict[str, Any] | None:
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from genflow.domain import STAGES

    done: dict[str, Any] | None = None
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        overall = progress.add_task("overall", total=100, state="pending")
        tasks: dict[str, TaskID] = {
            str(stage): progress.add_task(str(stage), total=1, state="waiting", start=False)
            for stage in STAGES
        }
        for event in client.stream_events(generation_id):
            data = event.data
            if event.event == "stage":
                stage = str(data.get("stage"))
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=1, state="", start=False)
                task = tasks[stage]
                status = str(data.get("status"))
                attempt = data.get("attempt")
                state = f"{status} (attempt {attempt})" if attempt else status
                progress.update(task, state=state)
                if status in ("running", "retrying"):
                    progress.start_task(task)
                elif status == "completed":
                    progress.update(task, completed=1)
                    progress.stop_task(task)
                else:
                    progress.stop_task(task)
            elif event.event == "progress":
                progress.update(overall, completed=int(data.get("progress") or 0))
            elif event.event == "status":
                progress.update(overall, state=str(data.get("status")))
            elif event.event == "done":
                done = data
                progress.update(overall, state=str(data.get("status")))
                if data.get("status") == TERMINAL_OK:
                    progress.update(overall, completed=100)
                break
    if done is not None:
        console.print(_done_line(done), highlight=False)
        error = done.get("error")
        if error:
            typer.echo(f"error {error.get('code')}: {error.get('message')}", err=True)
    return done
