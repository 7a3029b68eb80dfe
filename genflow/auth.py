"""Bearer tokens: HS256 JWTs whose `sub` is the user id."""

from __future__ import annotations

import time

import jwt

# The user `genflow up` prints a token for, and `genflow token` signs for by default.
DEFAULT_USER = "local-user"
ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is missing, malformed, expired, unsigned or signed otherwise."""


def issue_token(user_id: str, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + ttl_seconds}, secret, ALGORITHM)


def verify_token(token: str, secret: str) -> str:
    """The user id of a valid token. Only HS256 is accepted, so `alg: none` and
    every other algorithm are refused; `exp` and `sub` are required."""
    return verified(token, secret)[0]


def verified(token: str, secret: str) -> tuple[str, float]:
    """The user id of a valid token (see `verify_token`) and its expiry (epoch seconds)."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError as err:
        raise InvalidToken(str(err)) from err
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise InvalidToken("sub must be a non-empty string")
    return subject, float(claims["exp"])
