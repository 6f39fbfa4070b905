"""The ``Database``: an engine plus read and write transactions with the right locking.

SQLite gets WAL, foreign keys and a busy timeout on every connection, and write
transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
tries to write cannot wait for the lock (SQLite reports "database is locked" at once), while
an immediate one queues for the write lock up front. PostgreSQL serialises writers to one
dataset with a row lock on the dataset (see ``dataloft.core.commits``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from dataloft.core.errors import Invalid

SQLITE_BUSY_MS = 60_000
_AFTER_COMMIT = "after_commit"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs: it is the driver we install."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 20) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
        )
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True)


@contextmanager
def _refused_values() -> Iterator[None]:
    """A value the database cannot store or compare (PostgreSQL refuses NUL characters in
    text and JSON, for one) is the caller's bad input, not a server error. Inputs are
    validated before they get here; this is the net under that validation."""
    try:
        yield
    except DataError as error:
        raise Invalid(f"value not accepted: {error.orig or error}") from None


def after_commit(session: Session, key: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` after ``session``'s transaction commits (once per ``key``)."""
    session.info.setdefault(_AFTER_COMMIT, {})[key] = callback


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 20) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(
            self.url, sqlite_synchronous=sqlite_synchronous, pool_size=pool_size
        )
        self.dialect = self.engine.dialect.name
        self._current: ContextVar[Session | None] = ContextVar(f"session-{id(self)}", default=None)
        self._reader = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._writer = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"),
            expire_on_commit=False,
            autoflush=False,
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction for reading. Closing the session at the end releases the
        transaction and detaches loaded objects without expiring them, so they stay
        readable after the block. Inside another ``read`` or ``write`` block of the same
        thread it reuses that transaction: a request can authenticate and read in one."""
        current = self._current.get()
        if current is not None:
            yield current
            return
        with _refused_values(), self._reader() as session:
            token = self._current.set(session)
            try:
                yield session
            finally:
                self._current.reset(token)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits if the block succeeds and rolls back otherwise.
        Callables put in ``after_commit(session)`` run once the commit has succeeded."""
        if self._current.get() is not None:
            raise RuntimeError("a write transaction cannot start inside another transaction")
        with _refused_values(), self._writer() as session:
            token = self._current.set(session)
            try:
                with session.begin():
                    yield session
            finally:
                self._current.reset(token)
            for callback in session.info.pop(_AFTER_COMMIT, {}).values():
                callback()

    def dispose(self) -> None:
        self.engine.dispose()
