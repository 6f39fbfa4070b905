"""Claims on background work, so that each job runs in one process at a time, however many
server processes share the database: a lens's build (``lens:<id>``), the garbage collector
(``gc``), the reclaiming of expired uploads (``uploads:reclaim``).

On PostgreSQL a claim is a row lock. The job's row in ``job_claims`` is made once
(``INSERT ... ON CONFLICT DO NOTHING``, committed, so that every process locks the same
row), then a transaction on a connection of the claim's own takes it with
``SELECT ... FOR UPDATE SKIP LOCKED``: a row back means the claim is ours until that
transaction ends; none means another process holds it, and the job is skipped there (or,
for ``wait=True``, the statement queues behind the holder instead). A process that dies
loses its connection, and PostgreSQL ends the transaction and drops the lock with it: no
claim outlives its holder, and nothing has to expire. The lock is on a row of its own, never
on the row the job changes (a lens build updates its ``lenses`` row in transactions of its
own, which would wait for the claim's). The price: the claim's transaction stays open for
the job's length, holding back vacuum's horizon meanwhile, which for jobs of seconds to
minutes is nothing to speak of.

On SQLite every process is on one machine, and a claim is an exclusive ``flock`` on a file
per job beside the database file (``<database>.claims/``): it holds against other threads
and other processes alike (``dataloft gc`` beside the server), and the kernel drops it when
its holder dies. An in-memory database, one process's by definition, takes thread locks.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url

from dataloft.db.engine import Database
from dataloft.db.models import JobClaim

_FILE_MODE = 0o600


class Claims:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._directory: Path | None = None
        self._thread_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        if db.dialect == "sqlite":
            database = make_url(db.url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._directory = Path(database + ".claims")

    @contextmanager
    def hold(self, name: str, *, wait: bool = False) -> Iterator[bool]:
        """Claim the job ``name`` for the block: yields True if this caller holds it (run
        the job), False if another holds it (skip it). With ``wait``, waits for the holder
        to finish instead, and always yields True."""
        if self.db.dialect == "postgresql":
            with self._row_lock(name, wait) as held:
                yield held
        elif self._directory is not None:
            with self._file_lock(name, wait) as held:
                yield held
        else:
            with self._thread_lock(name, wait) as held:
                yield held

    @contextmanager
    def _row_lock(self, name: str, wait: bool) -> Iterator[bool]:
        # A connection of the claim's own, for as long as the job runs: the job's own
        # transactions must not be the claim's (their commits would end it).
        with self.db.engine.connect() as connection:
            try:
                held = self._lock_row(connection, name, wait)
                if held is None:  # no such row yet, or (without wait) a holder has it
                    connection.rollback()
                    connection.execute(insert(JobClaim).values(name=name).on_conflict_do_nothing())
                    connection.commit()
                    held = self._lock_row(connection, name, wait)
                yield held is not None
            finally:
                connection.rollback()  # ends the transaction: the claim goes

    @staticmethod
    def _lock_row(connection: Connection, name: str, wait: bool) -> str | None:
        """The job's row locked in the connection's transaction, or None (no row, or
        another holder when not waiting). Tried before making the row: it is there every
        time but the first, and the common case costs one statement."""
        query = select(JobClaim.name).where(JobClaim.name == name)
        return connection.scalar(query.with_for_update(skip_locked=not wait))

    @contextmanager
    def _file_lock(self, name: str, wait: bool) -> Iterator[bool]:
        assert self._directory is not None
        self._directory.mkdir(mode=0o700, exist_ok=True)
        path = self._directory / quote(name, safe="")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True  # closing the descriptor, below, unlocks
        finally:
            os.close(fd)

    @contextmanager
    def _thread_lock(self, name: str, wait: bool) -> Iterator[bool]:
        with self._guard:
            lock = self._thread_locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=wait):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()
