"""The `genflow` command."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from genflow.client import DEFAULT_API_URL, ApiError, GenflowClient, StreamError
from genflow.settings import Settings

app = typer.Typer(help="genflow: durable AI code generation.", no_args_is_help=True)


@app.command()
def up(
    home: Annotated[Path, typer.Option(help="Data directory.")] = Path(".genflow"),
    api_port: Annotated[int, typer.Option(help="API port.")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the embedded stack: Temporal dev server, worker(s) and the API."""
    from genflow.supervisor import run_stack

    settings = Settings(home=home, api_port=api_port)
    run_stack(
        settings,
        api_port=api_port,
        temporal_port=temporal_port,
        ui_port=ui_port,
        workers=workers,
    )


@app.command()
def worker() -> None:
    """Run one worker (production: as many replicas as needed)."""
    # The worker is outer code: named by string, so the core never imports it.
    importlib.import_module("worker.process").main()


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from genflow.logs import configure as configure_logging

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    uvicorn.run(
        "api.app:create_app",  # outer code, named by string; it reads the same settings
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,  # the handlers configure_logging set up
    )


@app.command()
def migrate() -> None:
    """Apply the read model's migrations to DATABASE_URL (or the SQLite default)."""
    from genflow.db.engine import make_engine
    from genflow.db.engine import migrate as run_migrations

    async def run() -> None:
        engine = make_engine(Settings().resolved_database_url)
        try:
            await run_migrations(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo("migrations applied")


@app.command()
def token(
    user: Annotated[str, typer.Argument(help="User id (the token's sub).")],
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds.")] = None,
) -> None:
    """Print a bearer token for USER signed with the configured secret."""
    from genflow.auth import issue_token

    settings = Settings()
    typer.echo(
        issue_token(user, settings.jwt_secret.get_secret_value(), ttl or settings.token_ttl_seconds)
    )


# -- the API client commands ----------------------------------------------------

ApiUrlOption = Annotated[
    str,
    typer.Option("--api-url", envvar="GENFLOW_API_URL", help="The genflow API's base URL."),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="GENFLOW_TOKEN",
        help="Bearer token (see `genflow token`).",
        show_default=False,
    ),
]
TERMINAL_OK = "completed"


def _console() -> Console:
    console = Console()
    # Piped output: wide enough that ids are never wrapped.
    return console if console.is_terminal else Console(width=200)


def _run(api_url: str, token: str | None, action: Callable[[GenflowClient], int]) -> None:
    """Run `action` with a client; API and connection errors go to stderr, exit 1."""
    if not token:
        typer.echo("error: no token; pass --token or set GENFLOW_TOKEN", err=True)
        raise typer.Exit(1)
    try:
        with GenflowClient(api_url, token) as client:
            code = action(client)
    except ApiError as err:
        typer.echo(f"error: {err.detail}", err=True)
        raise typer.Exit(1) from None
    except StreamError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except httpx.HTTPError as err:
        typer.echo(f"error: cannot reach {api_url}: {type(err).__name__}: {err}", err=True)
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)


def _score(value: Any) -> str:
    return "-" if value is None else f"{float(value):g}"


def _duration(ms: Any) -> str:
    return "-" if ms is None else f"{int(ms) / 1000:.1f}s"


def _watch(client: GenflowClient, generation_id: str, console: Console) -> int:
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
    return f"done {done.get('status')} quality {_score(done.get('quality_score'))}"


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


@app.command()
def create(
    prompt: Annotated[str, typer.Argument(help="The requirements.")],
    template: Annotated[
        str | None,
        typer.Option(help="python-library, fastapi-service or cli-tool.", show_default=False),
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
        return _watch(client, created["id"], _console()) if watch else 0

    _run(api_url, token, action)


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
                _score(item.get("quality_score")),
                str(item.get("created_at", ""))[:19].replace("T", " "),
                item.get("title") or item.get("prompt", ""),
            )
        console = _console()
        console.print(table)
        if page.get("next_cursor"):
            console.print("(more: raise --limit)", style="dim")
        return 0

    _run(api_url, token, action)


@app.command()
def show(
    generation_id: Annotated[str, typer.Argument(metavar="ID", help="The generation's id.")],
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """One generation: status, stages, score, error and files."""

    def action(client: GenflowClient) -> int:
        g = client.get(generation_id)
        console = _console()
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
            ("quality", _score(g.get("quality_score"))),
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
                _duration(stage.get("duration_ms")),
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
        return 0

    _run(api_url, token, action)


@app.command()
def watch(
    generation_id: Annotated[str, typer.Argument(metavar="ID", help="The generation's id.")],
    api_url: ApiUrlOption = DEFAULT_API_URL,
    token: TokenOption = None,
) -> None:
    """Follow a generation's progress live; exit 1 unless it completes."""
    _run(api_url, token, lambda client: _watch(client, generation_id, _console()))


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

    _run(api_url, token, action)


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
    """Download a generation's files and extract them into DIR."""

    def action(client: GenflowClient) -> int:
        target = directory or Path(generation_id)
        names = client.download(generation_id, target)
        typer.echo(f"{len(names)} files extracted into {target}")
        return 0

    _run(api_url, token, action)


if __name__ == "__main__":
    app()
