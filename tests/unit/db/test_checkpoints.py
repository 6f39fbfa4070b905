"""SQLite's log is copied into the database by ``Database``'s checkpointing thread, after
commits and not inside them; the thread's connection goes with ``dispose``."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from dataloft.db import Database
from dataloft.db.checkpoints import NICENESS, Checkpoints
from tests.support import open_files

MEGABYTE = 1024 * 1024


def _write_a_megabyte(db: Database) -> None:
    with db.write() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS t (x BLOB)"))
        session.execute(text("INSERT INTO t VALUES (zeroblob(:n))"), {"n": MEGABYTE})


def test_commits_leave_the_log_to_the_thread_which_copies_it(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    db = Database(f"sqlite:///{path}")
    try:
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        _write_a_megabyte(db)
        assert db.checkpoints is not None
        assert db.checkpoints.settled(timeout=30)
        # The pages are in the database file itself now, not only in the log.
        assert path.stat().st_size > MEGABYTE
        _write_a_megabyte(db)  # and again, after the pause
        assert db.checkpoints.settled(timeout=30)
        assert path.stat().st_size > 2 * MEGABYTE
    finally:
        db.dispose()


def test_dispose_closes_the_threads_connection(tmp_path: Path) -> None:
    path = tmp_path / "closed.sqlite3"
    db = Database(f"sqlite:///{path}")
    _write_a_megabyte(db)
    assert db.checkpoints is not None and db.checkpoints.settled(timeout=30)
    db.dispose()
    assert open_files(path) == []
    _write_a_megabyte(db)  # still usable: the next commit starts the thread again
    assert db.checkpoints.settled(timeout=30)
    assert path.stat().st_size > 2 * MEGABYTE
    db.dispose()
    assert open_files(path) == []


def test_a_failed_checkpoint_is_logged_and_the_thread_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = sqlite3.connect(tmp_path / "gone.sqlite3", check_same_thread=False)
    closed.close()
    checkpoints = Checkpoints(lambda: closed)
    try:
        with caplog.at_level(logging.WARNING, logger="dataloft.db.checkpoints"):
            checkpoints.committed()
            assert checkpoints.settled(timeout=30)
            checkpoints.committed()
            assert checkpoints.settled(timeout=30)
        failures = [r for r in caplog.records if "checkpoint" in r.getMessage()]
        assert len(failures) == 2
    finally:
        checkpoints.close()


def test_a_thread_without_a_connection_is_started_again_by_the_next_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    def refuse() -> sqlite3.Connection:
        attempts.append(1)
        raise sqlite3.OperationalError("unable to open database file")

    checkpoints = Checkpoints(refuse)
    with caplog.at_level(logging.WARNING, logger="dataloft.db.checkpoints"):
        for _ in range(2):
            checkpoints.committed()
            assert checkpoints.settled(timeout=30)
    checkpoints.close()
    assert len(attempts) == 2
    assert "no connection" in caplog.text


def test_only_sqlite_has_a_checkpointing_thread(database_url: str) -> None:
    db = Database(database_url)
    try:  # PostgreSQL checkpoints by itself
        assert (db.checkpoints is not None) == database_url.startswith("sqlite")
    finally:
        db.dispose()


@pytest.mark.skipif(
    sys.platform != "linux", reason="threads have nice values of their own on Linux"
)
def test_the_thread_runs_nicer_than_the_process(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nice.sqlite3'}")
    try:
        _write_a_megabyte(db)
        assert db.checkpoints is not None and db.checkpoints.settled(timeout=30)
        thread = next(t for t in threading.enumerate() if t.name == "sqlite-checkpoints")
        assert thread.native_id is not None
        ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(ours + NICENESS, 19)
    finally:
        db.dispose()
