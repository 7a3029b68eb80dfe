"""The request's bearer token, verified once: the `RateLimit-*` middleware and the
`current_user` dependency both ask, and the answer is kept in the request's scope."""

from __future__ import annotations

from starlette.types import Scope

from genflow.auth import InvalidToken, verify_token
from genflow.settings import Settings

_KEY = "genflow.bearer"


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
    try:
        return verify_token(token.strip(), settings.jwt_secret.get_secret_value())
    except InvalidToken as err:
        return err
