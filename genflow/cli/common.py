"""What the API client commands share: options, the client runner, formatting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from genflow.client import ApiError, GenflowClient, StreamError

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


def console_for_output() -> Console:
    console = Console()
    # Piped output: wide enough that ids are never wrapped.
    return console if console.is_terminal else Console(width=200)


def run(api_url: str, token: str | None, action: Callable[[GenflowClient], int]) -> None:
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


def score(value: Any) -> str:
    return "-" if value is None else f"{float(value):g}"


def duration(ms: Any) -> str:
    return "-" if ms is None else f"{int(ms) / 1000:.1f}s"
