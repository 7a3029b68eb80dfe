"""Bearer tokens: HS256 JWTs whose `sub` is the user id, for genflow's audience and
from its issuer, with a bounded lifetime; and the signing secret `genflow up` keeps."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import jwt

# The user `genflow up` prints a token for, and `genflow token` signs for by default.
DEFAULT_USER = "local-user"
ALGORITHM = "HS256"
AUDIENCE = "genflow"  # `aud` of the tokens genflow mints and accepts (a setting)
ISSUER = "genflow"  # `iss`, likewise
MAX_LIFETIME_SECONDS = 30 * 24 * 3600  # `exp - iat` of any token accepted (a setting)
MIN_SECRET_LENGTH = 32
SECRET_FILE = "jwt-secret"  # in GENFLOW_HOME: the secret `genflow up` made


class InvalidToken(Exception):
    """The token is missing, malformed, expired, unsigned or signed otherwise, for
    another audience or issuer, or lives longer than allowed."""


class MissingSecret(RuntimeError):
    """No signing secret is configured, or it is too short to be one."""


def issue_token(
    user_id: str,
    secret: str,
    ttl_seconds: int,
    audience: str = AUDIENCE,
    issuer: str = ISSUER,
) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + ttl_seconds, "aud": audience}
    return jwt.encode({**claims, "iss": issuer}, secret, ALGORITHM)


def verify_token(
    token: str,
    secret: str,
    audience: str = AUDIENCE,
    issuer: str = ISSUER,
    max_lifetime: int = MAX_LIFETIME_SECONDS,
) -> str:
    """The user id of a valid token. Only HS256 is accepted, so `alg: none` and every
    other algorithm are refused; `exp`, `iat`, `sub`, `aud` and `iss` are required, the
    audience and issuer must match, and `exp - iat` is at most `max_lifetime`."""
    return verified(token, secret, audience, issuer, max_lifetime)[0]


def verified(
    token: str,
    secret: str,
    audience: str = AUDIENCE,
    issuer: str = ISSUER,
    max_lifetime: int = MAX_LIFETIME_SECONDS,
) -> tuple[str, float]:
    """The user id of a valid token (see `verify_token`) and its expiry (epoch seconds)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError as err:
        raise InvalidToken(str(err)) from err
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise InvalidToken("sub must be a non-empty string")
    if float(claims["exp"]) - float(claims["iat"]) > max_lifetime:
        raise InvalidToken(f"the token lives longer than {max_lifetime} seconds")
    return subject, float(claims["exp"])


def check_secret(secret: str | None) -> str:
    """`secret` if it can sign tokens; MissingSecret (saying what to do) if not."""
    if secret is None:
        raise MissingSecret(
            "GENFLOW_JWT_SECRET is not set: set it to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters (for example `openssl rand -hex 32`). "
            "Only `genflow up` makes one of its own, in its home."
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise MissingSecret(
            f"GENFLOW_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters long"
        )
    return secret


def home_secret(home: Path, create: bool) -> str | None:
    """The secret kept in `home` (mode 0600), made on first use when `create`; None if
    there is none and `create` is false."""
    path = home / SECRET_FILE
    if create and not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another `genflow up` made it first: use theirs
        else:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # copied or restored with looser permissions
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
