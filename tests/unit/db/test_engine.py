"""``Database.dispose`` closes every connection, the per-thread SQLite lookup ones too."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dataloft.db import Database
from dataloft.db.engine import Lookup
from tests.support import open_files

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
