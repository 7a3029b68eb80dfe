"""Operator commands: run the stack or one of its processes, migrate, issue tokens.

The API and the worker are outer layers: they are named by string, never imported."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Annotated

import typer

from genflow.auth import DEFAULT_USER
from genflow.cli.app import app
from genflow.settings import Settings


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

    from genflow.auth import MissingSecret
    from genflow.logs import configure as configure_logging

    settings = Settings()
    try:
        settings.signing_secret()
    except MissingSecret as err:  # no API without a secret, whatever the environment
        typer.echo(f"genflow api: {err}", err=True)
        raise typer.Exit(2) from err
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
    user: Annotated[
        str, typer.Argument(help="User id (the token's sub); default: the one genflow up uses.")
    ] = DEFAULT_USER,
    ttl: Annotated[
        int | None,
        typer.Option(min=1, help="Lifetime in seconds (at most GENFLOW_TOKEN_MAX_TTL_SECONDS)."),
    ] = None,
) -> None:
    """Print a bearer token for USER signed with the configured secret
    (GENFLOW_JWT_SECRET, or the one `genflow up` keeps in GENFLOW_HOME)."""
    from genflow.auth import MissingSecret, check_secret, home_secret, issue_token

    settings = Settings()
    lifetime = ttl or min(settings.token_ttl_seconds, settings.token_max_ttl_seconds)
    if lifetime > settings.token_max_ttl_seconds:
        typer.echo(
            f"genflow token: --ttl is at most {settings.token_max_ttl_seconds} seconds "
            "(GENFLOW_TOKEN_MAX_TTL_SECONDS)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        secret = (
            settings.signing_secret()
            if settings.jwt_secret is not None
            else check_secret(home_secret(settings.home, create=False))
        )
    except MissingSecret as err:
        typer.echo(f"genflow token: {err}", err=True)
        raise typer.Exit(2) from err
    typer.echo(issue_token(user, secret, lifetime, settings.jwt_audience, settings.jwt_issuer))
