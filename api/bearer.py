"""The request's bearer token, verified once: the `RateLimit-*` middleware and the
`current_user` dependency both ask, and the answer is kept in the request's scope.

A client sends the same token with every request, so a token that passed is kept (up to
`KEPT_TOKENS`, by the secret that signed it) with its expiry, which is checked on every
use; a token that failed is checked again each time."""

from __future__ import annotations

import time

from starlette.types import Scope

from genflow.auth import InvalidToken, verified
from genflow.settings import Settings

_KEY = "genflow.bearer"
KEPT_TOKENS = 10_000
# (secret, audience, issuer, max lifetime, token) -> (user id, expiry in epoch seconds),
# oldest first.
_passed: dict[tuple[str, str, str, int, str], tuple[str, float]] = {}


class MissingToken(Exception):
    """The request carries no bearer token."""


def bearer_user(scope: Scope, settings: Settings) -> str:
    """The user id of the request's bearer token; raises MissingToken or InvalidToken.
    The token is checked on the first call of a request only."""
    state = scope.setdefault("state", {})
    known = state.get(_KEY)
    if known is None:
        known = state[_KEY] = _verify(scope, settings)
    if isinstance(known, Exception):
        raise known
    user: str = known
    return user


def _verify(scope: Scope, settings: Settings) -> str | Exception:
    authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return MissingToken()
    policy = (settings.jwt_audience, settings.jwt_issuer, settings.token_max_ttl_seconds)
    key = (settings.signing_secret(), *policy, token.strip())
    kept = _passed.get(key)
    if kept is not None and time.time() < kept[1]:
        return kept[0]
    try:
        user, expires = verified(key[-1], key[0], *policy)
    except InvalidToken as err:
        return err
    if len(_passed) >= KEPT_TOKENS:
        del _passed[next(iter(_passed))]
    _passed[key] = (user, expires)
    return user
