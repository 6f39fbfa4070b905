"""Messages clients leave in the server's log (UFDL's ``/v1/log``): each is an event of
kind ``log`` in the one event log, so it gets the log's sequence number (its id) and is
never rewritten or deleted, like every event. Any logged-in user may write and read
them (as in UFDL); the native event feed shows events that are about no dataset to site
admins only, so they do not leak there.
"""

from __future__ import annotations

from sqlalchemy import select

from dataloft.core.access import Principal
from dataloft.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.events import EventLog
from dataloft.core.pagination import is_row_id
from dataloft.core.query_filter import Field, QuerySpec, filtered
from dataloft.core.results import LogRecord
from dataloft.db import Database
from dataloft.db.models import Event

KIND = "log"
MAX_MESSAGE = 10_000
MAX_LEVEL = 32767  # UFDL's level is a positive small integer
LOG_FIELDS = {
    "pk": Field.integer(Event.seq),
    "id": Field.integer(Event.seq),
    "creation_time": Field.moment(Event.created),
    "level": Field.integer(Event.payload["level"].as_integer()),
    "message": Field.text(Event.payload["message"].as_string()),
}


def _logged_in(actor: Principal) -> None:
    if actor.is_anonymous:
        raise Unauthenticated("log in first")


def _record(event: Event) -> LogRecord:
    return LogRecord(event.seq, event.created, event.payload["level"], event.payload["message"])


class ClientLog:
    def __init__(self, db: Database, events: EventLog) -> None:
        self.db = db
        self.events = events

    def write(self, actor: Principal, level: object, message: object) -> LogRecord:
        _logged_in(actor)
        if actor.scope is not None:
            raise Forbidden("this token may only read")
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_LEVEL:
            raise Invalid(f"level: must be an integer from 0 to {MAX_LEVEL}")
        if not isinstance(message, str) or len(message) > MAX_MESSAGE or "\x00" in message:
            raise Invalid(f"message: must be text of at most {MAX_MESSAGE} characters")
        with self.db.write() as session:
            seq = self.events.append(
                session, KIND, {"level": level, "message": message}, actor_id=actor.user_id
            )
        return self.get(actor, seq)

    def get(self, actor: Principal, entry_id: int) -> LogRecord:
        _logged_in(actor)
        with self.db.read() as session:
            event = session.get(Event, entry_id) if is_row_id(entry_id) else None
            if event is None or event.kind != KIND:
                raise NotFound(f"log entry {entry_id} not found")
            return _record(event)

    def listed(self, actor: Principal, spec: QuerySpec) -> list[LogRecord]:
        _logged_in(actor)
        query = filtered(
            select(Event).where(Event.kind == KIND),
            spec,
            LOG_FIELDS,
            inactive=None,
            order=Event.seq,
        )
        with self.db.read() as session:
            return [_record(event) for event in session.scalars(query)]
