"""SQLite's write-ahead log copied into the database by a thread of its own, after the
commits that fill it rather than inside them.

In WAL mode a commit appends the pages it changed to the ``-wal`` file and syncs it; a
checkpoint copies those pages into the database file, syncs that, and lets the log start
over. By default SQLite checkpoints inside the COMMIT of whichever connection takes the log
past 1,000 pages. A bulk write of 10,000 records changes 4,500 pages and more (its random
digests land on every page of two indexes, which grow with the server's blobs), so each one
was that connection, and its client waited 15 to 55 ms longer for the copy, growing with the
database. Here no connection checkpoints on commit (``PRAGMA wal_autocheckpoint=0``, in
``engine.py``): each write this process commits wakes a thread that runs a ``PASSIVE``
checkpoint, which never waits for readers or writers and never blocks them, at most once
every ``PAUSE`` seconds, so that a stream of small commits shares one (each costs a sync of
the database file). The thread yields the CPU to the threads that serve requests, as the
worker processes do: copying a large write's pages while the next requests came in made
asyncio's loop wait 50 ms for a core (``tests/reliability/test_event_loop.py``).

What a commit has made durable does not depend on checkpoints: it is in the log, synced, and
a crash before the copy loses nothing (SQLite replays the log on opening). Another process
on the same file (the ``dataloft`` command) has its own thread; two at once are harmless,
as one of them finds nothing to copy or is told the other is busy. The last connection to
close copies what is left.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# Seconds between the end of a checkpoint and the start of the next, at the least.
PAUSE = 0.25
# How much nicer than the rest of the process the thread runs.
NICENESS = 10


def _yield_cpu() -> None:
    """Lower the calling thread's priority, on Linux, where each thread has a nice value
    of its own (elsewhere the call would name a whole process). Best effort."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(nice + NICENESS, 19))
    except OSError as error:
        log.warning("the checkpointing thread keeps its priority: %s", error)


class Checkpoints:
    """The checkpointing thread of one SQLite database, started by the first commit."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect  # a connection of the thread's own
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # the running thread's: each has its own
        self._due = threading.Event()  # a commit happened since the last checkpoint began
        self._idle = threading.Event()  # nothing due and nothing running
        self._idle.set()

    def committed(self) -> None:
        """A write of this process committed: checkpoint soon."""
        with self._lock:
            self._idle.clear()
            self._due.set()
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._stop,), name="sqlite-checkpoints", daemon=True
                )
                self._thread.start()

    def settled(self, timeout: float) -> bool:
        """Wait until every commit so far has been followed by a checkpoint (for tests);
        False if ``timeout`` seconds passed first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop the thread and close its connection; a later commit starts them again."""
        with self._lock:
            thread, self._thread = self._thread, None
            stop = self._stop
        if thread is None:
            return
        stop.set()
        self._due.set()  # wake it
        thread.join()

    def _run(self, stop: threading.Event) -> None:
        _yield_cpu()
        try:
            connection = self._connect()
        except Exception as error:  # the top of a thread: nobody else would hear of it
            log.warning("no connection to checkpoint the SQLite log with: %s", error)
            with self._lock:  # the next commit tries again
                if self._thread is threading.current_thread():
                    self._thread = None
                self._idle.set()
            return
        try:
            while not stop.is_set():
                self._due.wait()
                if stop.is_set():
                    break
                self._due.clear()
                self._checkpoint(connection)
                with self._lock:  # a commit in between keeps it due, and not idle
                    if not self._due.is_set():
                        self._idle.set()
                stop.wait(PAUSE)
        finally:
            connection.close()
            self._idle.set()

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            # A full disk, say: the pages stay in the log, where they are safe, and the
            # next commit tries again.
            log.warning("checkpoint of the SQLite log failed: %s", error)
