"""Cross-process wakeups through PostgreSQL's LISTEN/NOTIFY.

Several server processes share one database; each wakes its own event streams and lens
scheduler when it commits (``core/events.py``), and must hear of the others' commits too.
Writers ``send`` a notification in their transaction, which PostgreSQL delivers at commit,
once, in commit order, to every connection listening on the channel, and never for a
transaction that rolled back. Two channels:

- ``EVENTS``: a transaction appended events; the words are the ids of the datasets they
  were about (``EventLog.append``). Listeners wake as for a commit of their own.
- ``CHANGES``: a transaction changed a table some cache reads (``db/changes.py``); the
  words name the tables. Listeners make their caches' marks stale.

A payload starts with the sender's ``Database.origin``, so that a process skips its own
notifications: it woke its listeners already, after its own commit.

``Listener`` is the receiving side: a thread with a connection of its own, outside the pool,
in autocommit mode, waiting in ``select`` on the connection's socket (and on a pipe that
``stop`` writes to, so that stopping is immediate). When the connection fails it connects
again with growing pauses (``RETRY_SECONDS`` doubling up to ``MAX_RETRY_SECONDS``), logs
the outage once when it starts and once when it ends, and then calls ``on_gap``:
notifications sent meanwhile are lost, so whatever they would have woken or made stale is
woken or made stale then. Meanwhile the polling every consumer keeps as its safety net
(``event_poll_seconds`` for event streams, the lens scheduler's own) finds the commits.
After ``HEARTBEAT_SECONDS`` of silence it asks the server something, so that a connection
that died quietly is noticed (TCP keepalives bound how long the question can hang).
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger("dataloft.notifications")

EVENTS = "dataloft_events"
CHANGES = "dataloft_changes"
# PostgreSQL refuses a payload of 8000 bytes or more; longer lists go in several.
PAYLOAD_BYTES = 7900
RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 10.0
HEARTBEAT_SECONDS = 30.0
# TCP keepalives on the listening connection: a peer gone without a word (a network
# partition, a host that died) is noticed in about 25 s, not the kernel's 15 minutes.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "connect_timeout": 10,
}

# The words of one notification (after its origin).
Handler = Callable[[list[str]], None]


def send(session: Session, channel: str, origin: str, words: Sequence[str]) -> None:
    """Notify ``channel`` of ``words`` in the session's transaction: delivered when it
    commits."""
    for payload in payloads(origin, words):
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )


def payloads(origin: str, words: Sequence[str]) -> Iterator[str]:
    """``origin`` and the words, space-separated, in as many payloads as their length takes
    (at least one, for a notification of no words)."""
    current, size = [origin], len(origin)
    for word in words:
        if size + 1 + len(word) > PAYLOAD_BYTES and len(current) > 1:
            yield " ".join(current)
            current, size = [origin], len(origin)
        current.append(word)
        size += 1 + len(word)
    yield " ".join(current)


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection of its own to the database at ``url`` (a SQLAlchemy URL), for
    listening: in autocommit mode, since LISTEN takes effect when its transaction commits."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(make_conninfo(conninfo, **_KEEPALIVES), autocommit=True)


class Listener:
    """LISTENs on the handlers' channels and calls each notification's handler with its
    words, in this thread, skipping notifications from ``origin``."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        origin: str,
        handlers: Mapping[str, Handler],
        on_gap: Callable[[], None],
    ) -> None:
        self._connect = connect
        self.origin = origin
        self._handlers = dict(handlers)
        self._on_gap = on_gap
        self.listening = threading.Event()  # set while LISTEN is in force
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread: threading.Thread | None = None

    def start(self, wait_seconds: float = 5.0) -> None:
        """Start listening; wait (at most ``wait_seconds``) for LISTEN to be in force, so
        that notifications of commits made from now on arrive."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="db-notifications", daemon=True)
        self._thread.start()
        self.listening.wait(wait_seconds)

    def stop(self) -> None:
        """Stop listening and close the connection; a second call does nothing."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _run(self) -> None:
        pause = RETRY_SECONDS
        outage = False
        while not self._stopping.is_set():
            try:
                connection = self._connect()
                try:
                    for channel in self._handlers:
                        connection.execute(f'LISTEN "{channel}"')
                    if outage:
                        log.warning("notifications from other processes are heard again")
                        outage = False
                        self._on_gap()
                    pause = RETRY_SECONDS
                    self.listening.set()
                    self._listen(connection)
                finally:
                    self.listening.clear()
                    connection.close()
            except Exception as error:  # the database away, the network, a restart
                if self._stopping.is_set():
                    return
                if not outage:
                    outage = True
                    log.warning(
                        "lost the connection that hears other processes' commits (%s): "
                        "polling finds them meanwhile; connecting again",
                        error,
                    )
                self._stopping.wait(pause)
                pause = min(pause * 2, MAX_RETRY_SECONDS)

    def _listen(self, connection: psycopg.Connection[Any]) -> None:
        """Until stopped (returns) or the connection fails (raises)."""
        socket = connection.fileno()
        while True:
            readable, _, _ = select.select([socket, self._wake_read], [], [], HEARTBEAT_SECONDS)
            if self._wake_read in readable:
                return
            if not readable:
                connection.execute("SELECT 1")  # raises if the connection is gone
            for notification in connection.notifies(timeout=0):
                self._dispatch(notification.channel, notification.payload)

    def _dispatch(self, channel: str, payload: str) -> None:
        origin, *words = payload.split(" ")
        handler = self._handlers.get(channel)
        if origin == self.origin or handler is None:
            return
        try:
            handler(words)
        except Exception:  # one bad handler must not deafen the process
            log.exception("handling a notification on %s failed", channel)
