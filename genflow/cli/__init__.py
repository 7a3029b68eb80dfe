"""The `genflow` command: operator commands (`operator`) and an API client
(`generations`, with live progress from `watch`; `course`: iterate, retry, approve,
reject, events, stats)."""

from genflow.cli import course, generations, operator
from genflow.cli.app import app

__all__ = ["app", "course", "generations", "operator"]
