"""Conditional reads (RFC 9110): a strong `ETag` on a generation and on each artifact,
and `304 Not Modified` when the client's `If-None-Match` names it."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Header, Response

IfNoneMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=4096,
        description="ETags you hold (or `*`): if one is current, the answer is 304 with no body.",
    ),
]
# Each client may keep a copy, and must check it is current before using it.
CACHE_CONTROL = "private, no-cache"
ETAG_HEADER = {
    "ETag": {
        "description": "A strong validator of this representation; send it back in "
        "`If-None-Match`.",
        "schema": {"type": "string"},
    }
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not modified: `If-None-Match` names the current ETag",
        "headers": ETAG_HEADER,
    }
}


def entity_tag(digest: str) -> str:
    """A strong entity tag from a hex digest."""
    return f'"{digest}"'


def digest_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def names(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (or is `*`). Its comparison is the weak
    one (RFC 9110 13.1.2): a `W/` prefix does not matter."""
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def conditional_response(
    content: bytes,
    media_type: str,
    if_none_match: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    """`content` with its ETag (its sha256), or a bodyless 304 with the same headers."""
    etag = entity_tag(digest_of(content))
    headers = {**(headers or {}), "ETag": etag, "Cache-Control": CACHE_CONTROL}
    if names(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)
