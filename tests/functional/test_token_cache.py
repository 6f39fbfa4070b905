"""Verified tokens are remembered (core/auth.py, ``_RecentTokens``), and nothing that changes
what a token may do is missed because of it: a change this process commits counts at once,
expiry is checked on every request, and a change another process makes counts at once on
SQLite, and on PostgreSQL once ``token_cache_seconds`` is over (at once by default).

Two ``Loft``s on one database stand for two processes (a second server process, or the
``dataloft`` command beside a running server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.auth import _Recent
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft
from tests.support import Clock, own_settings, unique


@pytest.fixture
def shared_database(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a database of this test's own, of the session's kind."""
    with own_settings(settings, tmp_path) as own:
        yield own


def _loft(settings: Settings, seconds: float, clock: Clock | None = None) -> Loft:
    own = settings.model_copy(update={"token_cache_seconds": seconds})
    return Loft(own, clock=clock) if clock is not None else Loft(own)


def _user_with_token(loft: Loft) -> tuple[str, str, int]:
    username = unique("cache")
    loft.accounts.create_user(SYSTEM, username, "password-" + unique())
    made = loft.auth.create_token(SYSTEM, username=username)
    return username, made.secret, made.token.id


def test_changes_this_process_commits_count_at_once(shared_database: Settings) -> None:
    with _loft(shared_database, 3600) as loft:
        loft.bootstrap_admin()  # so that another user can stop being an admin
        username, secret, token_id = _user_with_token(loft)
        assert loft.auth.authenticate_token(secret).username == username  # now remembered
        loft.auth.revoke_token(SYSTEM, token_id)
        with pytest.raises(Unauthenticated, match="unknown or invalid"):
            loft.auth.authenticate_token(secret)

        other, other_secret, _ = _user_with_token(loft)
        assert not loft.auth.authenticate_token(other_secret).is_admin
        loft.accounts.update_user(SYSTEM, other, {"is_admin": True})
        assert loft.auth.authenticate_token(other_secret).is_admin
        loft.accounts.deactivate_user(SYSTEM, other)
        with pytest.raises(Unauthenticated, match="deactivated"):
            loft.auth.authenticate_token(other_secret)


def test_expiry_is_checked_on_every_request(shared_database: Settings) -> None:
    clock = Clock()
    with _loft(shared_database, 3600, clock) as loft:
        username = unique("expiring")
        loft.accounts.create_user(SYSTEM, username, "password-" + unique())
        made = loft.auth.create_token(
            SYSTEM, username=username, expires_at=clock() + timedelta(minutes=5)
        )
        assert loft.auth.authenticate_token(made.secret).username == username
        clock.advance(6 * 60)
        with pytest.raises(Unauthenticated, match="expired"):
            loft.auth.authenticate_token(made.secret)


def test_by_default_another_process_s_change_counts_at_once(shared_database: Settings) -> None:
    """SQLite sees every commit (its data_version); PostgreSQL looks every token up."""
    with Loft(shared_database) as server, Loft(shared_database) as command:
        username, secret, token_id = _user_with_token(command)
        assert server.auth.authenticate_token(secret).username == username
        assert server.auth.authenticate_token(secret).username == username
        command.auth.revoke_token(SYSTEM, token_id)
        with pytest.raises(Unauthenticated):
            server.auth.authenticate_token(secret)


def test_with_an_interval_another_process_s_change_counts_after_it(
    shared_database: Settings,
) -> None:
    with _loft(shared_database, 2) as server, _loft(shared_database, 2) as command:
        now = [0.0]
        server.auth._tokens.now = lambda: now[0]  # the interval's clock, moved by hand
        username, secret, token_id = _user_with_token(command)
        assert server.auth.authenticate_token(secret).username == username
        command.auth.revoke_token(SYSTEM, token_id)
        if shared_database.is_sqlite:  # no interval needed: at once
            with pytest.raises(Unauthenticated):
                server.auth.authenticate_token(secret)
        now[0] += 2.5
        with pytest.raises(Unauthenticated):
            server.auth.authenticate_token(secret)


def test_nothing_read_in_a_transaction_is_trusted_later(shared_database: Settings) -> None:
    with _loft(shared_database, 3600) as server, _loft(shared_database, 3600) as command:
        username, secret, token_id = _user_with_token(command)
        _, other_secret, _ = _user_with_token(command)
        with server.db.read():
            server.auth.authenticate_token(other_secret)  # the transaction's snapshot is taken
            command.auth.revoke_token(SYSTEM, token_id)
            # Read from the snapshot, from before the revocation, after it was committed.
            assert server.auth.authenticate_token(secret).username == username
        with pytest.raises(Unauthenticated):
            server.auth.authenticate_token(secret)


def test_recent_values_expire_and_stay_bounded() -> None:
    now = [100.0]
    recent: _Recent[int] = _Recent(10, now=lambda: now[0])
    recent.put("a", 1)
    assert recent.get("a") == 1
    now[0] += 10.5
    assert recent.get("a") is None
    for n in range(_Recent.MAX_ENTRIES + 5):
        recent.put(f"k{n}", n)
    assert len(recent._entries) <= _Recent.MAX_ENTRIES
    assert recent.get(f"k{_Recent.MAX_ENTRIES + 4}") == _Recent.MAX_ENTRIES + 4
    assert _Recent[int](0).get("anything") is None
    nothing: _Recent[int] = _Recent(0)
    nothing.put("a", 1)
    assert nothing.get("a") is None
