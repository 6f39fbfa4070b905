"""``Database.dispose`` closes every connection, the per-thread SQLite lookup ones too; on
PostgreSQL, pooled lookups run outside transactions, and a pooled connection is pinged only
after idling."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from dataloft.db import Database, engine
from dataloft.db.engine import Lookup
from tests import support
from tests.support import PG_ADMIN_URL, open_files, postgres_database

THREADS = 3


def test_dispose_closes_each_threads_lookup_connection(tmp_path: Path) -> None:
    path = tmp_path / "lookups.sqlite3"
    db = Database(f"sqlite:///{path}")
    looked_up = threading.Barrier(THREADS + 1)
    release = threading.Event()
    held: list[Lookup] = []

    def worker() -> None:
        with db.lookup() as lookup:
            assert lookup.connection.execute("SELECT 1").fetchone() == (1,)
        held.append(lookup)
        looked_up.wait(timeout=30)
        release.wait(timeout=30)  # alive, its connection in its thread-local, while disposing

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        with db.lookup() as mine:
            mine.connection.execute("SELECT 1")
        looked_up.wait(timeout=30)
        lookups = [*held, mine]
        assert len({id(lookup.connection) for lookup in lookups}) == THREADS + 1
        assert open_files(path)

        db.dispose()

        assert open_files(path) == []
        for lookup in lookups:
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                lookup.connection.execute("SELECT 1")
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=30)

    # Still usable afterwards: a thread's next lookup opens a new connection.
    with db.lookup() as again:
        assert again is not mine
        assert again.connection.execute("SELECT 1").fetchone() == (1,)
    db.dispose()
    assert open_files(path) == []


def test_a_finished_threads_lookup_connection_is_closed(tmp_path: Path) -> None:
    """Keeping track of the lookup connections keeps none alive: one whose thread has ended
    is closed then, not at some later garbage collection."""
    path = tmp_path / "lookups.sqlite3"
    db = Database(f"sqlite:///{path}")

    def worker() -> None:
        with db.lookup() as lookup:
            lookup.connection.execute("SELECT 1")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert open_files(path) == []
    db.dispose()


# --- PostgreSQL's pooled lookups ------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[Database]:
    if "postgresql" not in support.test_databases():
        pytest.skip("PostgreSQL's pool")
    with postgres_database() as url:
        db = Database(url)
        try:
            yield db
        finally:
            db.dispose()


def _backend_and_transaction(lookup: Lookup) -> tuple[int, str]:
    """The lookup connection's server process, and the transaction it is in (none: a new
    id for each statement)."""
    cursor = lookup.connection.cursor()
    try:
        cursor.execute("SELECT pg_backend_pid(), pg_current_xact_id()::text")
        backend, transaction = cursor.fetchone()
    finally:
        cursor.close()
    return backend, transaction


def test_pooled_lookups_hold_no_transaction(postgres: Database) -> None:
    """Each statement is a transaction of its own, so a lookup block holds no locks on the
    tables it read (nor an open transaction) between them; and the connection goes back
    to the pool as the pool's sessions expect it, opening transactions."""
    with postgres.lookup() as lookup:
        backend, first = _backend_and_transaction(lookup)
        assert _backend_and_transaction(lookup) != (backend, first)
        assert lookup.connection.info.transaction_status == TransactionStatus.IDLE
        assert lookup.connection.autocommit
    with postgres.read() as session:
        connection = session.connection()
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() == backend
        assert not connection.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        assert connection.exec_driver_sql("SHOW transaction_isolation").scalar() == (
            "repeatable read"
        )


def _terminate_every_backend(db: Database) -> None:
    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (db.engine.url.database,),
        )


def test_a_connection_the_server_closed_is_replaced_after_idling(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection back from the pool after ``PING_AFTER_IDLE_SECONDS`` is pinged first;
    one the server closed meanwhile (a restart, an idle timeout) is replaced, and neither
    a lookup nor a transaction sees it."""
    with postgres.lookup() as lookup:
        backend, _ = _backend_and_transaction(lookup)
    _terminate_every_backend(postgres)
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 0.0)
    with postgres.lookup() as lookup:
        assert _backend_and_transaction(lookup)[0] != backend
    _terminate_every_backend(postgres)
    with postgres.read() as session:
        assert session.connection().exec_driver_sql("SELECT 1").scalar() == 1


def test_a_connection_in_steady_use_is_not_pinged(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within ``PING_AFTER_IDLE_SECONDS`` of its last use a connection goes out as it is:
    the ping would be a round trip more for every request. After that, it is pinged."""
    pinged: list[object] = []

    def ping(connection: object) -> bool:
        pinged.append(connection)
        return True

    with postgres.lookup() as lookup:
        _backend_and_transaction(lookup)
    monkeypatch.setattr(postgres.engine.dialect, "do_ping", ping)
    with postgres.lookup() as lookup:
        _backend_and_transaction(lookup)
    assert pinged == []
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 0.0)
    with postgres.lookup() as lookup:
        _backend_and_transaction(lookup)
    assert pinged == [lookup.connection]
