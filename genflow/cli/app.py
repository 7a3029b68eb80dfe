"""The `genflow` Typer application; the command modules register on it."""

from __future__ import annotations

import typer

app = typer.Typer(help="genflow: durable AI code generation.", no_args_is_help=True)
