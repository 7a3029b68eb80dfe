"""Bearer JWT auth and per-user isolation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jwt
import pytest

from genflow.auth import SECRET_FILE, InvalidToken, home_secret, issue_token, verify_token
from tests.conftest import SECRET, Stack

NOW = int(time.time())
OURS = {"aud": "genflow", "iss": "genflow", "iat": NOW}


def test_issued_token_verifies_to_its_user() -> None:
    assert verify_token(issue_token("bob", SECRET, 60), SECRET) == "bob"


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({**OURS, "sub": "alice", "exp": NOW - 10}, SECRET, "HS256"),
        jwt.encode({**OURS, "sub": "alice", "exp": NOW + 60}, "other-secret-" * 4, "HS256"),
        jwt.encode({**OURS, "sub": "alice", "exp": NOW + 60}, None, "none"),
        jwt.encode({**OURS, "sub": "alice", "exp": NOW + 60}, SECRET, "HS512"),
        jwt.encode({**OURS, "sub": "alice"}, SECRET, "HS256"),
        jwt.encode({**OURS, "exp": NOW + 60}, SECRET, "HS256"),
        "not-a-token",
        # Issue 20: for genflow, from genflow, and not for longer than 30 days.
        jwt.encode({"sub": "alice", "exp": NOW + 60, "iss": "genflow", "iat": NOW}, SECRET),
        jwt.encode({**OURS, "sub": "alice", "exp": NOW + 60, "aud": "billing"}, SECRET),
        jwt.encode({"sub": "alice", "exp": NOW + 60, "aud": "genflow", "iat": NOW}, SECRET),
        jwt.encode({**OURS, "sub": "alice", "exp": NOW + 60, "iss": "someone"}, SECRET),
        jwt.encode({"sub": "alice", "exp": NOW + 60, "aud": "genflow", "iss": "genflow"}, SECRET),
        jwt.encode({**OURS, "sub": "alice", "exp": NOW + 31 * 24 * 3600}, SECRET),
    ],
    ids=[
        "expired",
        "wrong-secret",
        "alg-none",
        "hs512",
        "no-exp",
        "no-sub",
        "garbage",
        "no-aud",
        "other-aud",
        "no-iss",
        "other-iss",
        "no-iat",
        "lives-too-long",
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(token, SECRET)


def test_audience_issuer_and_longest_lifetime_are_settings() -> None:
    token = issue_token("bob", SECRET, 3600, audience="api.example", issuer="login.example")
    assert verify_token(token, SECRET, "api.example", "login.example") == "bob"
    with pytest.raises(InvalidToken, match="longer than 600 seconds"):
        verify_token(token, SECRET, "api.example", "login.example", max_lifetime=600)


def test_genflow_up_makes_its_secret_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    assert home_secret(tmp_path, create=False) is None
    made = home_secret(tmp_path / "home", create=True)
    assert made is not None and len(made) >= 32
    path = tmp_path / "home" / SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert home_secret(tmp_path / "home", create=True) == made  # kept, not replaced
    path.chmod(0o644)
    assert home_secret(tmp_path / "home", create=False) == made
    assert path.stat().st_mode & 0o777 == 0o600  # tightened again


def _tampered(token: str) -> str:
    header, _payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(b'{"sub":"mallory","exp":9999999999}').decode()
    return ".".join([header, forged, signature])


async def test_missing_tampered_expired_and_alg_none_tokens_get_401(stack: Stack) -> None:
    valid = stack.token("alice")
    bad_headers = [
        {},
        {"Authorization": f"Bearer {_tampered(valid)}"},
        {"Authorization": f"Bearer {stack.token('alice', ttl=-5)}"},
        {
            "Authorization": "Bearer "
            + jwt.encode({**OURS, "sub": "alice", "exp": int(time.time()) + 60}, None, "none")
        },
        {"Authorization": f"Basic {valid}"},
    ]
    for headers in bad_headers:
        for method, path in [("GET", "/v1/generations"), ("POST", "/v1/generations")]:
            response = await stack.http.request(method, path, headers=headers, json={"prompt": "x"})
            assert response.status_code == 401, (headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 401
    rows, _ = await stack.repository.list_for_user("mallory")
    assert rows == []


async def test_a_token_that_passed_is_refused_once_it_expires(stack: Stack) -> None:
    """Tokens that passed are kept between requests (api/bearer.py); their expiry
    still holds."""
    token = issue_token("brief", SECRET, 2)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await stack.http.get("/v1/generations", headers=headers)).status_code == 200
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.1)

    after = await stack.http.get("/v1/generations", headers=headers)

    assert after.status_code == 401
    assert "expired" in after.json()["detail"].lower()


async def test_another_users_generation_is_404(stack: Stack) -> None:
    created = await stack.create(user="alice")
    base = f"/v1/generations/{created['id']}"
    bob = stack.auth("bob")

    assert (await stack.http.get(base, headers=bob)).status_code == 404
    assert (await stack.http.get(f"{base}/stream", headers=bob)).status_code == 404
    cancel = await stack.http.post(f"{base}/cancel", json={"reason": "mine now"}, headers=bob)
    assert cancel.status_code == 404
    assert cancel.json()["detail"] == "No such generation."
    listing = await stack.http.get("/v1/generations", headers=bob)
    assert created["id"] not in [g["id"] for g in listing.json()["items"]]

    done = await stack.finished(created["id"])
    assert done["status"] == "completed" and done["cancel_reason"] is None
