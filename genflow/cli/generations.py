"""API client commands: create, list, show, watch, cancel and download generations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from genflow.cli.app import app
from genflow.cli.common import (
    TERMINAL_OK,
    ApiUrlOption,
    TokenOption,
    console_for_output,
    duration,
    run,
    score,
)
from genflow.cli.watch import watch_generation
from genflow.client import DEFAULT_API_URL, GenflowClient
from genflow.domain import TEMPLATES

# `show`'s exit status by the generation's: 0 done as asked, 1 not, 2 not ended yet.
SHOW_EXIT = {"completed": 0, "failed": 1, "cancelled": 1}


@app.command()
def create(
    prompt: Annotated[str, typer.Argument(help="The requirements.")],
    template: Annotated[
        str | None,
        typer.Option(help=" | ".join(TEMPLATES), show_default=False),
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="The project id to file it under.", show_default=False)
    ] = None,
    title: Annotated[str | None, typer.Option(help="A title.", show_default=False)] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Follow it to the end.")] = False,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Start a generation and print its id (with --watch: follow it; exit 1 unless it
    completes)."""

    def action(client: GenflowClient) -> int:
        extra: dict[str, Any] = {"title": title} if title is not None else {}
        created = client.create(prompt, template=template, project_id=project, **extra)
        typer.echo(created["id"])
        return watch_generation(client, created["id"], console_for_output()) if watch else 0

    run(api_url, token, action)


@app.command("list")
def list_generations(
    status: Annotated[
        list[str] | None, typer.Option(help="Only this status (repeatable).", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many.")] = 20,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Your generations, newest first."""

    def action(client: GenflowClient) -> int:
        page = client.list_generations(limit=limit, status=status)
        table = Table(title="Generations")
        table.add_column("id", no_wrap=True, min_width=36)
        table.add_column("status", no_wrap=True)
        table.add_column("stage", no_wrap=True)
        table.add_column("progress", justify="right")
        table.add_column("quality", justify="right")
        table.add_column("created", no_wrap=True)
        table.add_column("title / prompt", overflow="ellipsis", no_wrap=True, max_width=50)
        for item in page["items"]:
            table.add_row(
                item["id"],
                item["status"],
                item.get("stage") or "-",
                f"{item.get('progress', 0)}%",
                score(item.get("quality_score")),
                str(item.get("created_at", ""))[:19].replace("T", " "),
                item.get("title") or item.get("prompt", ""),
            )
        console = console_for_output()
        console.print(table)
        if page.get("next_cursor"):
            console.print("(more: raise --limit)", style="dim")
        return 0

    run(api_url, token, action)


@app.command()
def show(
    generation_id: Annotated[str, typer.Argument(metavar="ID", help="The generation's id.")],
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """One generation: status, stages, score, error and files. Exit 0 if it completed,
    1 if it failed, was cancelled or does not exist, 2 while it has not ended."""

    def action(client: GenflowClient) -> int:
        g = client.get(generation_id)
        console = console_for_output()
        summary = Table(
            show_header=False, box=None, title=f"Generation {g['id']}", title_justify="left"
        )
        summary.add_column("field", style="bold", no_wrap=True)
        summary.add_column("value")
        error = g.get("error")
        for name, value in (
            ("id", g["id"]),
            ("title", g.get("title") or "-"),
            ("status", g["status"]),
            ("stage", g.get("stage") or "-"),
            ("progress", f"{g.get('progress', 0)}%"),
            ("quality", score(g.get("quality_score"))),
            ("template", g.get("template") or "-"),
            ("project", g.get("project_id") or "-"),
            ("created", g.get("created_at") or "-"),
            ("completed", g.get("completed_at") or "-"),
            ("error", f"{error['code']}: {error['message']}" if error else "-"),
            ("cancel reason", g.get("cancel_reason") or "-"),
            ("prompt", g.get("prompt", "")),
        ):
            summary.add_row(name, str(value))
        console.print(summary)
        stages = Table(title="Stages")
        for column in ("stage", "status", "attempts", "duration", "error"):
            stages.add_column(column)
        for stage in g.get("stages", []):
            stages.add_row(
                stage["name"],
                stage["status"],
                str(stage.get("attempts", 0)),
                duration(stage.get("duration_ms")),
                stage.get("error") or "",
            )
        console.print(stages)
        artifacts = g.get("artifacts", [])
        if artifacts:
            files = Table(title=f"Files ({len(artifacts)})")
            files.add_column("path", no_wrap=True)
            files.add_column("kind")
            files.add_column("bytes", justify="right")
            for artifact in artifacts:
                files.add_row(
                    artifact["path"], artifact.get("kind", ""), str(artifact.get("size_bytes", ""))
                )
            console.print(files)
        return SHOW_EXIT.get(g["status"], 2)

    run(api_url, token, action)


@app.command()
def watch(
    generation_id: Annotated[str, typer.Argument(metavar="ID", help="The generation's id.")],
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Follow a generation's progress live; exit 1 unless it completes."""
    run(
        api_url, token, lambda client: watch_generation(client, generation_id, console_for_output())
    )


@app.command()
def cancel(
    generation_id: Annotated[str, typer.Argument(metavar="ID", help="The generation's id.")],
    reason: Annotated[str | None, typer.Option(help="Why.", show_default=False)] = None,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Ask a running generation to stop."""

    def action(client: GenflowClient) -> int:
        generation = client.cancel(generation_id, reason)
        typer.echo(f"{generation['id']} {generation['status']}")
        return 0

    run(api_url, token, action)


@app.command()
def download(
    generation_id: Annotated[str, typer.Argument(metavar="ID", help="The generation's id.")],
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]", help="Where to extract (default ./ID).", show_default=False
        ),
    ] = None,
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Download a completed generation's files and extract them into DIR (any other:
    exit 1, nothing written)."""

    def action(client: GenflowClient) -> int:
        status = client.get(generation_id)["status"]
        if status != TERMINAL_OK:
            typer.echo(
                f"error: generation {generation_id} is {status}, not completed: "
                "nothing to download",
                err=True,
            )
            return 1
        target = directory or Path(generation_id)
        names = client.download(generation_id, target)
        typer.echo(f"{len(names)} files extracted into {target}")
        return 0

    run(api_url, token, action)
