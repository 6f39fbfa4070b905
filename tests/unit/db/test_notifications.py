"""Cross-process wakeups (``db/notifications.py``): on PostgreSQL another process's commit
wakes this process's event listeners and watchers, and its change to a user or a token
makes this process forget the token rows it remembered, within milliseconds; a process
skips its own notifications, a rolled-back transaction sends none, and a lost listening
connection comes back by itself. Two ``Loft``s on one database stand for two processes."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.changes import PutRecord
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft
from dataloft.db.notifications import PAYLOAD_BYTES, payloads
from tests.support import postgres_database, unique

DEADLINE = 10.0


def test_long_lists_go_in_several_payloads_under_the_limit() -> None:
    words = [str(n) for n in range(100_000, 103_000)]
    sent = list(payloads("origin", words))
    assert len(sent) > 1
    assert all(len(p.encode()) < PAYLOAD_BYTES and p.startswith("origin ") for p in sent)
    assert [w for p in sent for w in p.split(" ")[1:]] == words
    assert list(payloads("origin", [])) == ["origin"]


@pytest.fixture
def two(settings: Settings, tmp_path: object) -> Iterator[tuple[Loft, Loft]]:
    """Two Lofts on a fresh PostgreSQL database: a process hearing, one writing."""
    if settings.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite serves one process")
    with postgres_database() as url, contextlib.ExitStack() as stack:
        own = settings.model_copy(update={"database_url": url, "token_cache_seconds": 3600})
        yield stack.enter_context(Loft(own)), stack.enter_context(Loft(own))


class Heard:
    """What a Loft's event log woke its watchers with, call by call."""

    def __init__(self, loft: Loft) -> None:
        self.calls: list[frozenset[int]] = []
        self.changed = threading.Condition()
        loft.events.watch(self._watched)

    def _watched(self, datasets: frozenset[int]) -> None:
        with self.changed:
            self.calls.append(datasets)
            self.changed.notify_all()

    def wait_for(self, dataset_id: int) -> None:
        with self.changed:
            found = self.changed.wait_for(
                lambda: any(dataset_id in call for call in self.calls), DEADLINE
            )
        assert found, f"dataset {dataset_id} was never heard of: {self.calls}"

    def count(self, dataset_id: int) -> int:
        with self.changed:
            return sum(dataset_id in call for call in self.calls)


def _dataset(loft: Loft, owner: str) -> int:
    name = unique("ds")
    return _made(loft, owner, name)


def _made(loft: Loft, owner: str, name: str) -> int:
    loft.datasets.create(SYSTEM, owner, name)
    loft.commits.commit(SYSTEM, owner, name, [PutRecord("r", {"n": 1})])
    return loft.datasets.get(SYSTEM, owner, name).id


def _user(loft: Loft) -> str:
    username = unique("u")
    loft.accounts.create_user(SYSTEM, username, "password-" + unique())
    return username


def test_another_process_s_commit_wakes_this_one_s_watchers(two: tuple[Loft, Loft]) -> None:
    hearing, writing = two
    heard = Heard(hearing)
    woken = threading.Event()
    hearing.events.subscribe(woken.set)
    dataset_id = _dataset(writing, _user(writing))
    heard.wait_for(dataset_id)
    assert woken.is_set()


def test_a_process_skips_its_own_notifications(two: tuple[Loft, Loft]) -> None:
    hearing, writing = two
    heard = Heard(hearing)
    owner = _user(hearing)
    own = _dataset(hearing, owner)  # woke its watchers after each commit, itself
    # Notifications reach a listener in commit order: once the other's is heard, the
    # hearing process's own were handled, and skipped.
    heard.wait_for(_dataset(writing, _user(writing)))
    assert heard.count(own) == 2  # its creation and its first commit, once each


def test_a_rolled_back_transaction_notifies_nobody(two: tuple[Loft, Loft]) -> None:
    hearing, writing = two
    heard = Heard(hearing)
    owner = _user(writing)
    rolled_back = _dataset(writing, owner)  # two notifications: creation, first commit
    # Notifications reach a listener in commit order: once a later dataset is heard of,
    # both of the first one's are counted (waiting for the first one alone raced its second).
    heard.wait_for(_dataset(writing, owner))
    before = heard.count(rolled_back)
    assert before == 2
    with pytest.raises(RuntimeError), writing.db.write() as session:
        writing.events.append(session, "test", {}, dataset_id=rolled_back)
        raise RuntimeError("changed my mind")
    heard.wait_for(_dataset(writing, owner))
    assert heard.count(rolled_back) == before


def test_a_change_to_a_token_or_user_is_heard_by_every_process(two: tuple[Loft, Loft]) -> None:
    """With ``token_cache_seconds`` of an hour, the revocation still counts at once."""
    hearing, writing = two
    for change in ("revoke", "deactivate"):
        username = _user(writing)
        made = writing.auth.create_token(SYSTEM, username=username)
        assert hearing.auth.authenticate_token(made.secret).username == username
        assert hearing.auth.authenticate_token(made.secret).username == username  # kept
        if change == "revoke":
            writing.auth.revoke_token(SYSTEM, made.token.id)
        else:
            writing.accounts.deactivate_user(SYSTEM, username)
        _eventually(functools.partial(_refused, hearing, made.secret))


def _refused(loft: Loft, secret: str) -> bool:
    try:
        loft.auth.authenticate_token(secret)
    except Unauthenticated:
        return True
    return False


def _eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.01)


def test_a_lost_listening_connection_comes_back(
    two: tuple[Loft, Loft], caplog: pytest.LogCaptureFixture
) -> None:
    hearing, writing = two
    assert hearing.notifications is not None
    heard = Heard(hearing)
    generation = hearing.db.generation()
    caplog.set_level(logging.WARNING, logger="dataloft.notifications")
    with writing.db.engine.connect() as connection:
        # Every listening connection of the database (both Lofts'): as a restart would.
        ended = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        ).all()
    assert len(ended) == 2
    _eventually(lambda: hearing.db.generation() != generation)  # what it missed: forgotten
    _eventually(hearing.notifications.listening.is_set)
    heard.wait_for(_dataset(writing, _user(writing)))
    lost = [r for r in caplog.records if "lost the connection" in r.getMessage()]
    back = [r for r in caplog.records if "heard again" in r.getMessage()]
    assert len(lost) == 2 and len(back) == 2  # once per outage, for each Loft
