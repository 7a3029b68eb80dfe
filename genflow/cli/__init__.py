"""The `genflow` command: operator commands (`operator`) and an API client
(`generations`, with live progress from `watch`)."""

from genflow.cli import generations, operator
from genflow.cli.app import app

__all__ = ["app", "generations", "operator"]
