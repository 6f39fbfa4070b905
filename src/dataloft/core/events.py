"""The global event log and its change feed.

Writers call ``append`` inside their transaction. The sequence number comes from the
``counters`` row 'events', incremented last thing before commit: the row lock makes
concurrent writers take numbers in the order they commit, so a reader that has seen every
event up to N will never later find a committed event below N. That is what makes
``Last-Event-ID`` resumption lossless across processes.

Listeners (the SSE endpoints) register a callback that is called after each commit in this
process. On PostgreSQL a writer also notifies the other processes, in its transaction
(``db/notifications.py``: delivered at commit, only if it commits), with the datasets its
events were about; each process's listener thread hands that to ``heard``, which wakes
the listeners as a commit of its own would. A woken reader reads the log again, from the
last sequence number it delivered: the order and the once-only come from the sequence, not
from the wakeups, so a wakeup lost, doubled or early costs nothing but a read. Polling
(``event_poll_seconds``) stays as the net under a lost notification connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, select, update
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal, Target, can
from dataloft.core.results import EventView
from dataloft.db import Database
from dataloft.db.engine import after_commit, before_commit
from dataloft.db.models import Counter, Dataset, Event, Project, User
from dataloft.db.notifications import EVENTS, send

Listener = Callable[[], None]
Watcher = Callable[[frozenset[int]], None]
# Where a writing session gathers the datasets its events are about, for the watchers.
_DATASETS = "events.datasets"


# Events with their actors' names (None for an event no one made), for the readers to narrow.
_EVENTS = select(Event, User.username).outerjoin(User, User.id == Event.actor_id)
# The rows a reader found, and the events among them its principal may see.
_Read = tuple[Sequence[Row[Event, str]], list[EventView]]


@dataclass(frozen=True)
class EventBatch:
    events: list[EventView]
    scanned_to: int  # resume after this sequence number
    more: bool  # the batch was full: more events may be waiting


def _event_view(event: Event, actor: str | None) -> EventView:
    return EventView(
        seq=event.seq,
        kind=event.kind,
        created=event.created,
        dataset=event.payload.get("dataset"),
        version=event.version,
        actor=actor,
        payload=event.payload,
    )


class EventLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._listeners: set[Listener] = set()
        self._watchers: set[Watcher] = set()
        self._lock = threading.Lock()

    def append(
        self,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        *,
        dataset_id: int | None = None,
        actor_id: int | None = None,
        version: int | None = None,
    ) -> int:
        """Record an event in the caller's transaction. Call it last: it takes the global
        sequence lock, which is held until the transaction ends."""
        seq = session.execute(
            update(Counter)
            .where(Counter.name == "events")
            .values(value=Counter.value + 1)
            .returning(Counter.value)
        ).scalar_one()
        session.add(
            Event(
                seq=seq,
                kind=kind,
                dataset_id=dataset_id,
                actor_id=actor_id,
                version=version,
                payload=payload,
            )
        )
        if dataset_id is not None:
            session.info.setdefault(_DATASETS, set()).add(dataset_id)
        datasets: set[int] = session.info.get(_DATASETS, set())
        after_commit(session, "events.notify", lambda: self.notify(datasets))
        if self.db.dialect == "postgresql":
            before_commit(
                session,
                "events.announce",
                lambda: send(session, EVENTS, self.db.origin, [str(d) for d in sorted(datasets)]),
            )
        return seq

    def heard(self, words: list[str]) -> None:
        """Another process committed events about these datasets (``db/notifications.py``)."""
        self.notify(int(word) for word in words if word.isdecimal())

    def notify(self, datasets: Iterable[int] = ()) -> None:
        """Wake this process's listeners; writers call it after their commit, with the
        datasets their events were about."""
        with self._lock:
            listeners = list(self._listeners)
            watchers = list(self._watchers)
        for listener in listeners:
            listener()
        if watchers:
            changed = frozenset(datasets)
            for watcher in watchers:
                watcher(changed)

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.add(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def watch(self, watcher: Watcher) -> None:
        """Like ``subscribe``, told which datasets the commit's events were about."""
        with self._lock:
            self._watchers.add(watcher)

    def unwatch(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    def last_seq(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(Counter.value).where(Counter.name == "events")) or 0

    def read_after(
        self,
        principal: Principal,
        after: int,
        *,
        dataset_id: int | None = None,
        limit: int = 100,
    ) -> EventBatch:
        """Events with ``seq > after`` that the principal may see, oldest first, and the
        highest sequence number scanned (resume after it: events skipped as invisible are
        behind it, and nothing committed later can get a lower number). Events of datasets
        the principal cannot read are skipped; events not about a dataset (accounts,
        teams) are shown to admins only."""
        query = _EVENTS.where(Event.seq > after).order_by(Event.seq).limit(limit)
        if dataset_id is not None:
            query = query.where(Event.dataset_id == dataset_id)
        rows, visible = self._read(principal, query)
        return EventBatch(visible, rows[-1][0].seq if rows else after, len(rows) == limit)

    def latest(
        self,
        principal: Principal,
        *,
        dataset_id: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[EventView]:
        """The last ``limit`` events (before sequence number ``before``, if given) that the
        principal may see, newest first: a page of history, where ``read_after`` follows
        the log forwards. Paging backwards by ``before`` walks ``ix_events_dataset_seq``
        for one dataset, the primary key otherwise."""
        query = _EVENTS.order_by(Event.seq.desc()).limit(limit)
        if before is not None:
            query = query.where(Event.seq < before)
        if dataset_id is not None:
            query = query.where(Event.dataset_id == dataset_id)
        return self._read(principal, query)[1]

    def _read(self, principal: Principal, query: Select[Event, str]) -> _Read:
        """The rows ``query`` finds, and the events among them the principal may see."""
        with self.db.read() as session:
            rows = session.execute(query).all()
            readable = self._readable_datasets(
                session, principal, {e.dataset_id for e, _ in rows if e.dataset_id is not None}
            )
        visible = [
            _event_view(event, actor)
            for event, actor in rows
            if (event.dataset_id in readable) or (event.dataset_id is None and principal.is_admin)
        ]
        return rows, visible

    @staticmethod
    def _readable_datasets(
        session: Session, principal: Principal, dataset_ids: Iterable[int]
    ) -> set[int]:
        ids = list(dataset_ids)
        if not ids:
            return set()
        rows = session.execute(
            select(Dataset.id, Dataset.owner_id, Dataset.visibility, Project.team_id)
            .outerjoin(Project, Project.id == Dataset.project_id)
            .where(Dataset.id.in_(ids))
        ).all()
        # Events of a dataset purged since stay visible to admins only.
        return {
            row.id
            for row in rows
            if can(principal, Action.READ, Target(row.owner_id, row.visibility, row.team_id))
        } | (set(ids) - {row.id for row in rows} if principal.is_admin else set())
