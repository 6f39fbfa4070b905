"""The ``Database``: an engine plus read and write transactions with the right locking.

SQLite gets WAL, foreign keys and a busy timeout on every connection, and write
transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
tries to write cannot wait for the lock (SQLite reports "database is locked" at once), while
an immediate one queues for the write lock up front. PostgreSQL serialises writers to one
dataset with a row lock on the dataset (see ``dataloft.core.commits``).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DataError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dataloft.bounded import put_bounded
from dataloft.core.errors import Invalid, StorageFull
from dataloft.db.changes import ChangeAnnouncer
from dataloft.db.checkpoints import Checkpoints
from dataloft.db.prepared import Prepared
from dataloft.db.statistics import StatisticsRefresher

SQLITE_BUSY_MS = 60_000
SQLITE_FULL = 13  # "database or disk is full"
# "disk I/O error" growing the -shm file: SQLite writes its new pages to keep a full disk
# from killing it with SIGBUS later, so this too means no room. Opening a database whose
# last user removed its -wal and -shm files (see room_to_open) fails so on a full disk.
SQLITE_IOERR_SHMSIZE = 4874
POSTGRES_DISK_FULL = "53100"
_AFTER_COMMIT = "after_commit"
_BEFORE_COMMIT = "before_commit"


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
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # a thread does it: db/checkpoints.py
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
    engine = create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size)
    _ping_after_idling(engine)
    return engine


# A pooled connection that sat unused this long is pinged before it is handed out: the
# server may have closed it meanwhile (a restart, an idle timeout, a proxy between), and
# the ping lets the pool replace it instead of failing the request. SQLAlchemy's
# pool_pre_ping pings on every checkout: a round trip more for every request, a third of
# those of a small record read by token (bench/workers.py).
PING_AFTER_IDLE_SECONDS = 2.0
_RETURNED = "dataloft.returned"


def _ping_after_idling(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool drops the connection and checks out another (a new one if need be).
            raise DisconnectionError(f"a pooled connection is gone: {error}") from error


@contextmanager
def _refused_values() -> Iterator[None]:
    """A value the database cannot store or compare (PostgreSQL refuses NUL characters in
    text and JSON, for one) is the caller's bad input, not a server error. Inputs are
    validated before they get here; this is the net under that validation. A database
    out of room is ``StorageFull`` (507), like a full blob store."""
    try:
        yield
    except DataError as error:
        raise Invalid(f"value not accepted: {error.orig or error}") from None
    except OperationalError as error:
        if _is_full(error.orig):
            raise StorageFull("the server's database is full: nothing was saved") from error
        raise


def _is_full(error: BaseException | None) -> bool:
    return (
        getattr(error, "sqlite_errorcode", None) in (SQLITE_FULL, SQLITE_IOERR_SHMSIZE)
        or getattr(error, "sqlstate", None) == POSTGRES_DISK_FULL
    )


@contextmanager
def room_to_open() -> Iterator[None]:
    """For the first connection of a process (migrations, at start): SQLite in WAL mode
    makes its -wal and -shm files again if the database's last user removed them, which it
    cannot do on a full disk, and without them it cannot even read. ``StorageFull`` saying
    so, rather than a "disk I/O error" traceback."""
    try:
        yield
    except OperationalError as error:
        if _is_full(error.orig):
            raise StorageFull(
                "the server's database is full: make room on its disk to open it"
            ) from error
        raise


def after_commit(session: Session, key: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` after ``session``'s transaction commits (once per ``key``)."""
    session.info.setdefault(_AFTER_COMMIT, {})[key] = callback


def before_commit(session: Session, key: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` at the end of ``session``'s transaction, in it, just before it
    commits (once per ``key``), after everything pending was flushed."""
    session.info.setdefault(_BEFORE_COMMIT, {})[key] = callback


def _close_lookup(open_connections: set[Any], lock: threading.Lock, connection: Any) -> None:
    """Close a thread's lookup connection once the thread is done with it (or the database
    was disposed: closing twice is harmless)."""
    with lock:
        open_connections.discard(connection)
    connection.close()


class Commits:
    """How many writes this process has committed (``Database.generation``, ``RowMemory``)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.seen = 0

    def count(self) -> None:
        """A commit: this process's own, or (``Database.changed_elsewhere``) another's
        that changed what caches keep."""
        self.seen = next(self._counter)  # one step of a C iterator: never lost


class RowMemory:
    """The rows of ``remembered`` statements a SQLite connection read, kept while nothing
    is committed: the same token and the same record, asked for again and again, cost a
    glance instead of a query (the two lookups were a quarter of a small record GET).

    Exact, not a guess: SQLite's ``data_version`` changes for a connection whenever any
    other connection commits, this process's writers and other processes (the
    ``dataloft`` command) alike. The connection is a thread's lookup connection, which only
    reads, outside any transaction, so what it read before the last change is all it could
    have read. Each caller gets JSON documents of its own (``Prepared.copied``). At most
    ``MAX_ENTRIES`` statements' rows are kept, the oldest going first.

    ``data_version`` is read once per block of lookups (``_ThreadBlock``: a request's token
    and entry lookups share one), and again whenever this process has committed since
    (``commits``), so that a block sees its own thread's writes. Reading it takes a read
    lock on the database, two system calls: once per request, not once per lookup, was a
    tenth of a small record GET. Rows kept from before a commit that lands while a block
    runs still answer in that block: they were the database's state when it began."""

    MAX_ENTRIES = 4096
    _VERSION = "PRAGMA data_version"

    def __init__(self, connection: Any, commits: Commits) -> None:
        self.connection = connection
        self.commits = commits
        self._cursor = connection.cursor()  # one for the check, not one per check
        self._rows: dict[tuple[int, tuple[Any, ...]], tuple[int, list[tuple[Any, ...]]]] = {}
        # (this process's commits, data_version) as read in the current block, or None.
        self._checked: tuple[int, int] | None = None

    def forget_version(self) -> None:
        """At the edges of a block: the next lookup reads ``data_version`` again."""
        self._checked = None

    def mark(self) -> tuple[int, int]:
        """(this process's commits, ``data_version``) as this block reads them: equal only
        while nothing at all is committed (``Database.state_mark``)."""
        commits = self.commits.seen
        checked = self._checked
        if checked is None or checked[0] != commits:
            (version,) = self._cursor.execute(self._VERSION).fetchone()
            checked = self._checked = commits, version
        return checked

    def rows(
        self, statement: Prepared, dialect: Dialect, params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        version = self.mark()[1]
        key = (id(statement), tuple(params.items()))
        kept = self._rows.get(key)
        if kept is None or kept[0] != version:
            kept = version, statement.rows(self.connection, dialect, params)
            put_bounded(self._rows, key, kept, self.MAX_ENTRIES)
        return statement.copied(dialect, kept[1])


class _ThreadBlock:
    """A thread's lookup as the block ``Database.lookup`` hands out, nested blocks sharing
    it; the outermost one bounds how long a ``data_version`` read holds (``RowMemory``)."""

    def __init__(self, lookup: Lookup, memory: RowMemory) -> None:
        self.lookup = lookup
        self._memory = memory
        self._depth = 0

    def __enter__(self) -> Lookup:
        if self._depth == 0:
            self._memory.forget_version()
        self._depth += 1
        return self.lookup

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._memory.forget_version()


class Lookup:
    """A DBAPI connection to run ``Prepared`` statements on; with a ``RowMemory``, the
    rows of ``remembered`` ones are kept there."""

    def __init__(self, connection: Any, dialect: Dialect, memory: RowMemory | None = None) -> None:
        self.connection = connection
        self.dialect = dialect
        self.memory = memory

    def first(self, statement: Prepared, **params: Any) -> tuple[Any, ...] | None:
        found = self.rows(statement, **params)
        return found[0] if found else None

    def rows(self, statement: Prepared, **params: Any) -> list[tuple[Any, ...]]:
        try:
            if statement.remembered and self.memory is not None:
                return self.memory.rows(statement, self.dialect, params)
            return statement.rows(self.connection, self.dialect, params)
        except self.dialect.loaded_dbapi.DataError as error:
            raise Invalid(f"value not accepted: {error}") from None


class _PooledLookup:
    """A pooled connection for the length of a block, made current for nested lookups.

    In autocommit mode for the block, as SQLite's lookup connections are: each lookup is
    one SELECT, and needs no transaction around it. Left to the driver, every block would
    begin one and the pool roll it back, two more round trips, and the transaction would
    hold the locks of every table and index the block's statements touched until the end:
    more than PostgreSQL's 16 fast-path slots per backend, so each lookup took its locks in
    the shared lock table, whose partition locks the server processes' backends then
    queued on (most backends waiting on ``LWLock:LockManager`` under load, measured with
    ``bench/workers.py``). Switching the mode is the driver's own affair: nothing is sent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def __enter__(self) -> Lookup:
        self._pooled = self._db.engine.raw_connection()
        connection = self._pooled.dbapi_connection
        assert connection is not None  # a connection just checked out
        connection.autocommit = True
        lookup = Lookup(connection, self._db.engine.dialect)
        self._token = self._db._current.set(lookup)
        return lookup

    def __exit__(self, *exc: object) -> None:
        self._db._current.reset(self._token)
        connection = self._pooled.dbapi_connection
        if connection is not None and not connection.closed:
            connection.autocommit = False  # as the pool's sessions expect it
        self._pooled.close()  # back to the pool


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 20) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(
            self.url, sqlite_synchronous=sqlite_synchronous, pool_size=pool_size
        )
        self.dialect = self.engine.dialect.name
        # SQLite lives in this process: an indexed lookup takes microseconds and, in WAL
        # mode, never waits for writers. Callers may run such reads without a thread hop.
        self.local = self.dialect == "sqlite"
        self._threads = threading.local()
        # Every thread's lookup connection, for dispose() to close; each leaves the set (and
        # is closed) when its thread ends, as the server's worker threads come and go.
        self._lookup_connections: set[Any] = set()
        self._lookups_lock = threading.Lock()
        self._commits = Commits()
        self._current: ContextVar[Session | Lookup | None] = ContextVar(
            f"session-{id(self)}", default=None
        )
        # A read is one snapshot, however many statements it runs: a listing reads the head
        # and then the rows live at it, and under PostgreSQL's default READ COMMITTED a
        # commit landing between the two made the rows of the next version pass for the
        # head's (a record deleted in version 3 missing from version 2's index). SQLite's
        # deferred transactions are snapshots already; a read-only REPEATABLE READ
        # transaction is one on PostgreSQL, and never fails to serialize.
        readers = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.dialect == "postgresql"
            else self.engine
        )
        self._reader = sessionmaker(readers, expire_on_commit=False, autoflush=False)
        self._writer = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"),
            expire_on_commit=False,
            autoflush=False,
        )
        self.checkpoints = Checkpoints(self._checkpoint_connection) if self.local else None
        self.statistics = StatisticsRefresher(self.engine) if self.dialect == "postgresql" else None
        # Who sent a notification (db/notifications.py): this Database's own commits have
        # woken its listeners already.
        self.origin = secrets.token_hex(8)
        self.changes = (
            ChangeAnnouncer(self._writer, self.origin) if self.dialect == "postgresql" else None
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction for reading. Closing the session at the end releases the
        transaction and detaches loaded objects without expiring them, so they stay
        readable after the block. Inside another ``read`` or ``write`` block of the same
        thread it reuses that transaction."""
        current = self._current.get()
        if isinstance(current, Session):
            yield current
            return
        with _refused_values(), self._reader() as session:
            token = self._current.set(session)
            try:
                yield session
            finally:
                self._current.reset(token)

    def generation(self) -> Hashable:
        """A mark of this process's commits, for caches of what the database says that
        are kept for a while (verified tokens on PostgreSQL, ``core/auth.py``): read before
        the cached value, it stays equal only while this process commits nothing, and no
        other process commits a change to a table the caches read (``ChangeAnnouncer``,
        heard by ``db/notifications.py`` within milliseconds, and at once after any outage
        of that connection). Until heard, such caches trust a value for a bounded time.
        (SQLite's lookups need none of this: ``RowMemory`` sees every commit.)"""
        if isinstance(self._current.get(), Session):
            # A transaction reads its snapshot, which may be older than any mark taken now:
            # nothing read in one is trusted later.
            return object()
        return self._commits.seen

    def state_mark(self) -> Hashable | None:
        """A mark of the whole database's state that stays equal only while no process
        commits anything: on SQLite, read outside any transaction (``RowMemory.mark``).
        None on PostgreSQL, which has no such mark (``api/memo.py`` keeps nothing there)."""
        if not self.local or isinstance(self._current.get(), Session):
            return None
        with self.lookup() as lookup:
            assert lookup.memory is not None
            return lookup.memory.mark()

    def lookup(self) -> AbstractContextManager[Lookup]:
        """A connection for ``Prepared`` lookups: the current transaction's, inside a
        ``read`` or ``write`` block (so writers see and lock what they read); on SQLite
        this thread's own lookup connection; else a pooled one, shared by nested ``lookup``
        blocks (so a request pays for one checkout)."""
        current = self._current.get()
        if isinstance(current, Lookup):
            return nullcontext(current)
        if isinstance(current, Session):
            dbapi = current.connection().connection.dbapi_connection
            return nullcontext(Lookup(dbapi, self.engine.dialect))
        if self.local:
            return self._thread_block()
        return _PooledLookup(self)

    def _thread_lookup(self) -> Lookup:
        """SQLite lookups run on a connection this thread keeps, outside the pool: checking a
        connection out and back in costs several times an indexed lookup. The connection is
        in autocommit mode and runs single SELECTs, so it never holds a transaction."""
        return self._thread_block().lookup

    def _thread_block(self) -> _ThreadBlock:
        """This thread's lookup, as the block ``lookup`` hands out: made once, as the
        thread-local that holds the ``Lookup`` (the ``Lookup`` holding it would make a
        reference cycle, and keep the connection open past its thread)."""
        block: _ThreadBlock | None = getattr(self._threads, "block", None)
        if block is None:
            pooled = self.engine.raw_connection()
            pooled.detach()  # ours for the life of the thread (or till dispose), not the pool's
            connection = pooled.dbapi_connection
            memory = RowMemory(connection, self._commits)
            lookup = Lookup(connection, self.engine.dialect, memory)
            with self._lookups_lock:
                self._lookup_connections.add(connection)
            # A sqlite3 connection sits in a reference cycle (its statement cache), so left to
            # itself it would stay open until a garbage collection after its thread ended.
            # Close it as soon as the thread drops its Lookup instead.
            weakref.finalize(
                lookup, _close_lookup, self._lookup_connections, self._lookups_lock, connection
            )
            block = _ThreadBlock(lookup, memory)
            self._threads.block = block
        return block

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits if the block succeeds and rolls back otherwise.
        Callables put in ``after_commit(session)`` run once the commit has succeeded."""
        if isinstance(self._current.get(), Session):
            raise RuntimeError("a write transaction cannot start inside another transaction")
        with _refused_values(), self._writer() as session:
            token = self._current.set(session)
            try:
                with session.begin():
                    yield session
                    session.flush()  # what the callbacks look at (ChangeAnnouncer) is all there
                    for callback in session.info.pop(_BEFORE_COMMIT, {}).values():
                        callback()
                    if self.changes is not None:
                        self.changes.announce(session)
            finally:
                self._current.reset(token)
            self._commits.count()
            if self.checkpoints is not None:
                self.checkpoints.committed()
            for callback in session.info.pop(_AFTER_COMMIT, {}).values():
                callback()

    def changed_elsewhere(self) -> None:
        """Another process committed a change to what caches keep (or may have, unheard):
        every ``generation`` mark taken before is stale."""
        self._commits.count()

    def _checkpoint_connection(self) -> Any:
        """The checkpointing thread's connection, configured as the pool's are, but its own."""
        pooled = self.engine.raw_connection()
        pooled.detach()
        return pooled.dbapi_connection

    def check(self) -> None:
        """Raise unless the database answers a trivial query (a readiness probe's question,
        ``api/probes.py``). On SQLite, also unless the database file is still where it was
        opened: connections open on a file that was removed (or whose volume went away)
        go on answering, and the next start would create a new, empty database there."""
        path = self.engine.url.database if self.local else None
        if path and path != ":memory:" and not Path(path).exists():
            raise FileNotFoundError("the SQLite database file is gone")
        with self.engine.connect() as connection:
            connection.execute(select(1))

    def dispose(self) -> None:
        """Close every connection: the pool's, and each thread's lookup connection (which
        the pool does not know about). The ``Database`` stays usable: later lookups open
        new connections."""
        if self.checkpoints is not None:
            self.checkpoints.close()
        if self.statistics is not None:
            self.statistics.wait()
        # Every thread makes a new lookup connection next time. Dropping the old thread-locals
        # closes the connections only they held (their finalizers take the lock: not held here).
        self._threads = threading.local()
        with self._lookups_lock:
            connections = list(self._lookup_connections)
            self._lookup_connections.clear()
        for connection in connections:
            connection.close()
        self.engine.dispose()
