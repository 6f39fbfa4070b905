"""The local index: what each file of a local tree hashed to, so that a file nobody touched
costs one ``stat`` on the next push or pull instead of a read of all its bytes.

It is one SQLite file in the user's cache directory (``$XDG_CACHE_HOME/dataloft/`` or
``~/.cache/dataloft/``), never inside the tree: a row per file, keyed by the tree's
absolute path and the file's path in it, holding the size and ``mtime_ns`` the file had
when it was read, its sha256, and ``checked_ns``, the clock just before it was read.

A row answers for a file only while its size and mtime are unchanged, and only if the
file's mtime is clearly older than ``checked_ns``. The second condition is git's "racily
clean" rule: a file system stamps mtimes from a coarse clock (a tick of up to 10 ms on
Linux, a second on ext3 and HFS+, two on FAT), so a file rewritten in the same tick as it
was read keeps its mtime, and its size may not change either. A file modified within a
tick of being read is therefore hashed again next time; once its mtime is older, the row
answers for it. Each row keeps the margin its file system needs (``margin_ns``): two
seconds where mtimes are whole seconds, a tenth of a second where they have nanoseconds.
The same table remembers the ``.part`` files a pull is filling, which are the client's
own state and never pushed.

Several ``dataloft`` processes may share the file: SQLite's WAL journal lets them read
while one writes, and each writes its rows in one short transaction.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

INDEX_FILE = "index.sqlite3"
# The layout of the tables below: a file of another layout is a cache of another
# version of dataloft, emptied and made again.
SCHEMA_VERSION = 1
# How far a file's mtime must be behind the moment it was read for the row to answer for
# it: two file-system clock ticks and more. A file system that keeps whole seconds (or
# FAT's two) needs seconds; one that keeps nanoseconds stamps them from a clock that
# ticks every few milliseconds.
COARSE_MARGIN_NS = 2_000_000_000
FINE_MARGIN_NS = 100_000_000

_SCHEMA = """
CREATE TABLE files (
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    checked_ns INTEGER NOT NULL,
    margin_ns INTEGER NOT NULL,
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
CREATE TABLE partials (
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
"""


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dataloft``, else ``~/.cache/dataloft`` (it may not exist yet)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "dataloft"


def now_ns() -> int:
    """The clock a row's ``checked_ns`` is read from (the file systems' own, in ns)."""
    return time.time_ns()


def margin_for(stamped_ns: int) -> int:
    """The margin for a file system that stamped this mtime: whole seconds say it keeps
    no finer times (a file system that keeps nanoseconds gives a whole second once in
    hundreds of ticks, and is then only treated with more care)."""
    return COARSE_MARGIN_NS if stamped_ns % 1_000_000_000 == 0 else FINE_MARGIN_NS


@dataclass(frozen=True)
class Known:
    """What the index holds for one file."""

    size: int
    mtime_ns: int
    sha256: str
    checked_ns: int
    margin_ns: int

    def answers_for(self, size: int, mtime_ns: int) -> bool:
        """Whether the file, now of ``size`` and ``mtime_ns``, still holds these bytes."""
        if size != self.size or mtime_ns != self.mtime_ns:
            return False
        return mtime_ns < self.checked_ns - self.margin_ns


@dataclass(frozen=True)
class Hashed:
    """A file just read (or written): its path in the tree, what ``stat`` said while it
    was read, its sha256, the clock before the read began, and the margin its file system
    needs (``margin_for``)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    checked_ns: int
    margin_ns: int


class Index:
    """The index of one local tree (``root``, an absolute path). A context manager."""

    def __init__(self, root: Path, directory: Path | None = None) -> None:
        self.root = str(root)
        where = directory or cache_dir()
        where.mkdir(parents=True, exist_ok=True)
        self.file = where / INDEX_FILE
        # isolation_level=None: transactions are the explicit BEGIN ... COMMIT below.
        self._db = sqlite3.connect(self.file, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last rows is fine
        with self._transaction():
            (layout,) = self._db.execute("PRAGMA user_version").fetchone()
            if layout != SCHEMA_VERSION:
                self._db.execute("DROP TABLE IF EXISTS files")
                self._db.execute("DROP TABLE IF EXISTS partials")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def known(self) -> dict[str, Known]:
        """Every row of this tree, by path (one query: a tree of 100,000 files reads in
        a fraction of a second)."""
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, sha256, checked_ns, margin_ns FROM files WHERE root = ?",
            (self.root,),
        )
        return {path: Known(*rest) for path, *rest in rows}

    def record(self, hashed: Iterable[Hashed], gone: Iterable[str] = ()) -> None:
        """Remember files just read, and forget paths no longer in the tree."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO files"
                " (root, path, size, mtime_ns, sha256, checked_ns, margin_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (self.root, h.path, h.size, h.mtime_ns, h.sha256, h.checked_ns, h.margin_ns)
                    for h in hashed
                ),
            )
            self._db.executemany(
                "DELETE FROM files WHERE root = ? AND path = ?",
                ((self.root, path) for path in gone),
            )

    def partials(self) -> set[str]:
        """Paths of the files a pull into this tree is filling (or was, when it stopped):
        each is written at ``<path>.part`` until it is whole."""
        rows = self._db.execute("SELECT path FROM partials WHERE root = ?", (self.root,))
        return {path for (path,) in rows}

    def start_partials(self, paths: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO partials (root, path) VALUES (?, ?)",
                ((self.root, path) for path in paths),
            )

    def end_partials(self, paths: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany(
                "DELETE FROM partials WHERE root = ? AND path = ?",
                ((self.root, path) for path in paths),
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: a writer takes the lock at once, so two
        processes never both read and then both fail to upgrade to writing."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
