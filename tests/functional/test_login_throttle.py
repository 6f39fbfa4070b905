"""Passwords cannot be hammered (``core/throttle.py``): the 11th wrong password for an
account within a minute is a 429 with ``Retry-After`` (15 s, longer for repeat offenders,
at most 60 s), per client address too with a higher bar, counted in the database; HTTP
Basic costs one argon2 check per interval; and a new password logs out the account's
sessions (its API tokens stay, unless asked)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.auth import AuthService
from dataloft.core.loft import Loft
from dataloft.core.passwords import Passwords
from tests.conftest import User
from tests.support import FAST_HASHING, Clock, LiveServer, own_server, unique


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/auth/token", json={"username": username, "password": password})


def test_the_eleventh_wrong_password_in_a_minute_is_a_429(
    anon: httpx.Client, alice: User, clock: Clock
) -> None:
    for _ in range(10):
        assert login(anon, alice.username, "wrong-password").status_code == 401
    refused = login(anon, alice.username, alice.password)  # even the right one must wait
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_requests"
    first_wait = int(refused.headers["retry-after"])
    assert 0 < first_wait <= 60
    clock.advance(first_wait)
    assert login(anon, alice.username, alice.password).status_code == 200
    # A repeat offender waits longer (and never more than a minute).
    for _ in range(10):
        assert login(anon, alice.username, "wrong-password").status_code == 401
    again = login(anon, alice.username, "wrong-password")
    assert again.status_code == 429
    assert first_wait < int(again.headers["retry-after"]) <= 60


def test_unknown_accounts_are_throttled_alike(anon: httpx.Client) -> None:
    """Whether an account exists must not show in how its failures are counted."""
    nobody = unique("nobody")
    for _ in range(10):
        assert login(anon, nobody, "wrong-password").status_code == 401
    assert login(anon, nobody, "wrong-password").status_code == 429


def test_basic_credentials_are_throttled_in_the_pigeon_optics_shape(
    server: LiveServer, alice: User
) -> None:
    with httpx.Client(base_url=server.url, headers={"Accept": "application/json"}) as po:
        for _ in range(10):
            assert po.get("/datasets/", auth=(alice.username, "wrong")).status_code == 400
        refused = po.get("/datasets/", auth=(alice.username, "wrong"))
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
        assert "too many failed logins" in refused.json()["error"]


@pytest.fixture
def strict_server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Loft]]:
    """A server whose per-address limit is 3, on a database of its own: the session
    server's limit is out of reach (every test's client is 127.0.0.1), and the counts live
    in the database, where they would block the session's server too."""
    with own_server(settings, tmp_path, login_failures_per_address=3) as (live, loft):
        yield live.url + "/loft/v1", loft


def test_one_address_is_throttled_across_accounts(strict_server: tuple[str, Loft]) -> None:
    url, loft = strict_server
    username, password = unique("erin"), "password-" + unique()
    loft.accounts.create_user(SYSTEM, username, password)
    with httpx.Client(base_url=url) as client:
        for _ in range(3):
            assert login(client, unique("someone"), "wrong-password").status_code == 401
        assert login(client, username, password).status_code == 429


class _CountingPasswords(Passwords):
    """The real hasher, counting its verifications (argon2 checks)."""

    def __init__(self) -> None:
        super().__init__(memory_kib=FAST_HASHING["password_hash_memory_kib"], passes=1)
        self.verified = 0

    def verify(self, stored_hash: str | None, password: str) -> bool:
        self.verified += 1
        return super().verify(stored_hash, password)


def test_basic_costs_one_argon2_check_per_interval(loft: Loft) -> None:
    passwords = _CountingPasswords()
    cached = AuthService(loft.db, passwords, basic_cache_seconds=60)
    uncached = AuthService(loft.db, passwords, basic_cache_seconds=0)
    username, password = unique("dora"), "password-" + unique()
    loft.accounts.create_user(SYSTEM, username, password)
    for _ in range(5):
        assert cached.authenticate_password(username, password).username == username
    assert passwords.verified == 1
    for _ in range(3):
        uncached.authenticate_password(username, password)
    assert passwords.verified == 4
    # A changed password is checked again at once, and the old one no longer passes.
    loft.accounts.update_user(SYSTEM, username, {"password": "new-" + password})
    with pytest.raises(Exception, match="wrong username or password"):
        cached.authenticate_password(username, password)
    assert passwords.verified == 5


def test_a_new_password_logs_out_sessions_but_keeps_api_tokens(
    server: LiveServer, anon: httpx.Client, alice: User
) -> None:
    def me(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return anon.get("/me", headers=headers).status_code

    logged_in = login(anon, alice.username, alice.password)
    assert logged_in.status_code == 200, logged_in.text
    session = logged_in.json()["token"]
    made = alice.client.post("/tokens", json={"name": "ci"})
    assert made.status_code == 201, made.text
    api_token = made.json()["token"]
    changed = alice.client.patch(f"/users/{alice.username}", json={"password": "new-" + unique()})
    assert changed.status_code == 200, changed.text
    assert me(session) == 401  # logged in with the old password: log in again
    assert me(api_token) == 200  # made on purpose: stays
    with httpx.Client(base_url=server.url, headers={"Accept": "application/json"}) as po:
        pigeon = base64.b64encode(f"{alice.username}:{alice.password}".encode()).decode()
        old_basic = po.get("/datasets/", headers={"Authorization": f"Basic {pigeon}"})
        assert old_basic.status_code == 400  # the old password, even recently cached
    revoked = alice.client.patch(f"/users/{alice.username}", json={"revoke_tokens": True})
    assert revoked.status_code == 200, revoked.text
    assert me(api_token) == 401
