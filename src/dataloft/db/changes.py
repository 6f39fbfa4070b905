"""Telling other processes that a table their caches read has changed (PostgreSQL).

A cache of what the database says (the verified tokens of ``core/auth.py``) must not outlive
a change another process commits: a token revoked, an account deactivated, an admin made
an ordinary user. Rather than trusting every such writer to remember to say so, the writing
sessions themselves watch what they change: a table named through ``watch`` that a write
transaction updates or deletes from (through the ORM or an ``update``/``delete``
statement) is announced on the ``CHANGES`` channel in that transaction, so the
notification goes out at commit, and not at all on a rollback. Each process's listener
(``db/notifications.py``) then makes its caches' marks stale (``Database.changed_elsewhere``).

Inserts are not announced: a cache keeps only rows it found, and a new row cannot make one
of those wrong.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from dataloft.db.notifications import CHANGES, send

_CHANGED = "changes.tables"


class ChangeAnnouncer:
    def __init__(self, writer: sessionmaker[Session], origin: str) -> None:
        self.origin = origin
        self.tables: frozenset[str] = frozenset()
        event.listen(writer, "do_orm_execute", self._executed)
        event.listen(writer, "after_flush", self._flushed)

    def watch(self, *tables: str) -> None:
        """Announce changes to these tables: some cache reads them."""
        self.tables |= frozenset(tables)

    def _executed(self, state: ORMExecuteState) -> None:
        if state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            self._note(state.session, getattr(table, "name", None))

    def _flushed(self, session: Session, _context: Any) -> None:
        for instance in (*session.dirty, *session.deleted):
            self._note(session, getattr(instance, "__tablename__", None))

    def _note(self, session: Session, table: str | None) -> None:
        if table in self.tables:
            session.info.setdefault(_CHANGED, set()).add(table)

    def announce(self, session: Session) -> None:
        """In the writing transaction, just before it commits (``Database.write``)."""
        changed: set[str] = session.info.pop(_CHANGED, set())
        if changed:
            send(session, CHANGES, self.origin, sorted(changed))
