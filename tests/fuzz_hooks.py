"""Schemathesis hooks for tests/test_openapi_fuzz.py, loaded by `st` (not by pytest).

Some values are valid only because of the server's state or the world, which no
schema can say: a cursor must be one the API issued, a project must exist, a webhook
host must resolve to a public address, and an Idempotency-Key binds the first request
that used it. In the cases the fuzzer means to be valid, such values are replaced by
real ones (from the JSON file named by GENFLOW_FUZZ_DATA), chosen by a hash of the
request, so the same seed gives the same requests. Cases meant to be invalid are left as
they are: that each of these values is checked stays under test.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import threading
from functools import cache
from typing import Any

import schemathesis

# CPython 3.11 tracks the AST constructor's recursion depth per interpreter, not per
# thread (python/cpython#106905): two threads parsing at once fail with "SystemError:
# AST constructor recursion depth mismatch". Hypothesis parses source to describe the
# lambdas of the strategies schemathesis builds in each worker thread, so the fuzz run
# failed at random with several workers. One parse at a time.
_parse = ast.parse
_parsing = threading.Lock()


def _parse_one_at_a_time(*args: Any, **kwargs: Any) -> Any:
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time  # type: ignore[assignment]

KEY = "Idempotency-Key"
KEY_MAX = 255


@cache
def real_values() -> dict[str, list[str]]:
    with open(os.environ["GENFLOW_FUZZ_DATA"]) as file:
        values: dict[str, list[str]] = json.load(file)
    return values


def _digest(case: Any) -> str:
    request = [case.method, case.path, case.path_parameters, case.query, case.body]
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=repr).encode()).hexdigest()


def _pick(kind: str, case: Any) -> str:
    values = real_values()[kind]
    return values[int(_digest(case), 16) % len(values)]


@schemathesis.hook
def before_call(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:
    """Edits the case as it is about to be sent (so the reproduction shows them)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    query, body = case.query, case.body
    if isinstance(query, dict) and isinstance(query.get("cursor"), str):
        query["cursor"] = _pick("cursors", case)
    if isinstance(body, dict):
        if isinstance(body.get("project_id"), str):
            body["project_id"] = _pick("projects", case)
        # Events need a URL to go to (documented on `webhook_events`).
        if isinstance(body.get("webhook_url"), str) or body.get("webhook_events") is not None:
            body["webhook_url"] = _pick("webhook_urls", case)
    headers = case.headers  # a case-insensitive mapping, or None
    key = headers.get(KEY) if headers is not None else None
    if isinstance(key, str) and 1 <= len(key) <= KEY_MAX:
        # The same key with another body is 422 by contract (the IETF draft): a key
        # the fuzzer drew is made unique to the request it goes with, within its limit.
        suffix = f"-{_digest(case)[:16]}"
        headers[KEY] = key[: KEY_MAX - len(suffix)] + suffix
