"""API client commands that take a generation further: iterate, retry, approve, reject;
and those that read it as it goes: events and stats.

Exit codes, as for every command about one generation: 0 when the generation did what
was asked (completed; for approve and reject, the decision was taken), 1 when it failed,
was cancelled or does not exist (or the API refused), with the reason on stderr."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from genflow.cli.app import app
from genflow.cli.common import ApiUrlOption, TokenOption, console_for_output, run, score
from genflow.cli.watch import watch_generation
from genflow.client import DEFAULT_API_URL, GenflowClient

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The generation's id.")]
WatchOption = Annotated[
    bool, typer.Option("--watch", help="Follow it to the end; exit 1 unless it completes.")
]
ReasonOption = Annotated[str | None, typer.Option(help="Why.", show_default=False)]
PriorityOption = Annotated[
    str | None,
    typer.Option(help="interactive | normal | batch (default: normal).", show_default=False),
]


def _started(client: GenflowClient, generation: dict[str, object], watch: bool) -> int:
    typer.echo(str(generation["id"]))
    if not watch:
        return 0
    return watch_generation(client, str(generation["id"]), console_for_output())


@app.command()
def iterate(
    generation_id: IdArgument,
    prompt: Annotated[str, typer.Argument(help="What to change.")],
    title: Annotated[str | None, typer.Option(help="A title.", show_default=False)] = None,
    priority: PriorityOption = None,
    watch: WatchOption = False,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Start a generation built on a completed one and print its id."""

    def action(client: GenflowClient) -> int:
        created = client.iterate(generation_id, prompt, title=title, priority=priority)
        return _started(client, created, watch)

    run(api_url, token, action)


@app.command()
def retry(
    generation_id: IdArgument,
    priority: PriorityOption = None,
    watch: WatchOption = False,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Rerun a failed or cancelled generation and print the new one's id."""
    run(
        api_url,
        token,
        lambda client: _started(client, client.retry(generation_id, priority), watch),
    )


def _decide(
    generation_id: str, approve: bool, reason: str | None, api_url: str, token: str | None
) -> None:
    def action(client: GenflowClient) -> int:
        generation = client.decide(generation_id, approve, reason)
        typer.echo(f"{generation['id']} {generation['status']}")
        return 0

    run(api_url, token, action)


@app.command()
def approve(
    generation_id: IdArgument,
    reason: ReasonOption = None,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Let a generation waiting for approval go on; print its new status."""
    _decide(generation_id, True, reason, api_url, token)


@app.command()
def reject(
    generation_id: IdArgument,
    reason: ReasonOption = None,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """End a generation waiting for approval (it fails with `rejected`)."""
    _decide(generation_id, False, reason, api_url, token)


@app.command()
def events(
    generation_id: IdArgument,
    after: Annotated[int, typer.Option(min=0, help="Only the events after this id.")] = 0,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Print the generation's events as JSON lines until `done`; exit 1 unless it
    completed."""

    def action(client: GenflowClient) -> int:
        status = None
        for event in client.stream_events(generation_id, after):
            line = {"id": event.id, "event": event.event, "data": event.data}
            typer.echo(json.dumps(line))
            if event.event == "done":
                status = event.data.get("status")
        return 0 if status == "completed" else 1

    run(api_url, token, action)


@app.command()
def stats(api_url: ApiUrlOption = DEFAULT_API_URL, token: TokenOption = None) -> None:
    """Your totals: generations by status, success rate, quality, run time, today's
    token use."""

    def action(client: GenflowClient) -> int:
        s = client.statistics()
        table = Table(title="Your generations", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value")
        for status, count in sorted(s["by_status"].items()):
            table.add_row(status, str(count))
        rate = s.get("success_rate")
        table.add_row("total", str(s["total"]))
        table.add_row("success rate", "-" if rate is None else f"{100 * rate:.0f}%")
        table.add_row("average quality", score(s.get("average_quality")))
        p50 = s.get("duration_p50_ms")
        table.add_row("run time p50", "-" if p50 is None else f"{p50 / 1000:.1f}s")
        quota = s.get("quota") or {}
        limit = quota.get("daily_token_quota")
        used = quota.get("tokens_used_today", 0)
        table.add_row("tokens today", f"{used}" + (f" of {limit}" if limit else ""))
        console_for_output().print(table)
        return 0

    run(api_url, token, action)
