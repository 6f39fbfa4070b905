"""Settings an admin changes while the server runs, kept in the database so that every
process sees the same (Pbench's ``/api/v1/server/settings``):

- ``server-state``: ``{"status": "enabled" | "readonly" | "disabled", "message": ...}``
  (a message is required unless enabled). A disabled server refuses Pbench's requests,
  a read-only one its changes, with a 503 carrying this object (``refusal``);
- ``server-banner``: an object with a ``message`` for clients to show, or null;
- ``dataset-lifetime``: the longest a dataset may be kept, in days (``"4"`` or
  ``"4 days"``), by default the configured maximum;
- ``server-indexing``: whether uploads are indexed (a flag Pbench's clients read).

A change sets every key given or none (Pbench Server kept the ones before a bad one), and
is an event (``server.settings``), so it appears in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from dataloft.core.access import Principal
from dataloft.core.directory import require_admin
from dataloft.core.errors import Invalid
from dataloft.core.events import EventLog
from dataloft.db import Database
from dataloft.db.models import ServerSetting

STATE, BANNER, LIFETIME, INDEXING = (
    "server-state",
    "server-banner",
    "dataset-lifetime",
    "server-indexing",
)
KEYS = (LIFETIME, BANNER, STATE, INDEXING)
ENABLED, READONLY, DISABLED = "enabled", "readonly", "disabled"
_STATUSES = (ENABLED, READONLY, DISABLED)
_LIFETIME = re.compile(r"(\d{1,9})(?:\s*days?)?")


def bad_value(key: str, value: Any) -> Invalid:
    return Invalid(f"Unsupported value for server setting key {key!r} ({value!r})")


def _lifetime(value: Any) -> str:
    found = _LIFETIME.fullmatch(str(value)) if isinstance(value, (str, int)) else None
    if found is None or isinstance(value, bool):
        raise bad_value(LIFETIME, value)
    return found.group(1)


def _state(value: Any) -> dict[str, Any]:
    status = value.get("status") if isinstance(value, dict) else None
    if not isinstance(status, str) or status.lower() not in _STATUSES:
        raise bad_value(STATE, value)
    state = {**value, "status": status.lower()}
    if state["status"] != ENABLED and "message" not in state:
        raise bad_value(STATE, value)
    return state


def _banner(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or "message" not in value:
        raise bad_value(BANNER, value)
    return value


def _indexing(value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad_value(INDEXING, value)
    return value


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    LIFETIME: _lifetime,
    STATE: _state,
    BANNER: _banner,
    INDEXING: _indexing,
}


class ServerSettings:
    def __init__(self, db: Database, events: EventLog, *, max_lifetime_days: int) -> None:
        self.db = db
        self.events = events
        self.defaults: dict[str, Any] = {
            LIFETIME: str(max_lifetime_days),
            BANNER: None,
            STATE: {"status": ENABLED},
            INDEXING: True,
        }

    def all(self) -> dict[str, Any]:
        with self.db.read() as session:
            stored = {row.key: row.value for row in session.scalars(select(ServerSetting))}
        return {key: stored.get(key, self.defaults[key]) for key in KEYS}

    def get(self, key: str) -> Any:
        return self.all()[key]

    def change(self, actor: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
        """Set every key of ``values`` (validated first: all or none); what was set."""
        require_admin(actor)
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise Invalid(
                f"Unrecognized server settings {unknown!r} specified: "
                f"valid settings are {sorted(KEYS)!r}"
            )
        checked: dict[str, Any] = {}
        failures: list[str] = []
        for key, value in values.items():
            try:
                checked[key] = _VALIDATORS[key](value)
            except Invalid as error:
                failures.append(error.message)
        if failures:
            raise Invalid(", ".join(failures))
        with self.db.write() as session:
            for key, value in checked.items():
                session.merge(ServerSetting(key=key, value=value))
            payload = {"updated": checked}
            self.events.append(session, "server.settings", payload, actor_id=actor.user_id)
        return checked

    def refusal(self, *, changes: bool) -> dict[str, Any] | None:
        """The server state, when it refuses a request (one that ``changes`` something, or
        not); None when the request may go on."""
        state: dict[str, Any] = self.get(STATE)
        status = state.get("status")
        if status == DISABLED or (status == READONLY and changes):
            return state
        return None
