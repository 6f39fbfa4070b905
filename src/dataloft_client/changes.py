"""The changes a commit applies (``docs/native-api.md``, Commits), as small dataclasses.

Each takes the guards of the API: ``if_match`` (the current sha256, or ``"*"`` for
"exists") and ``if_none_match`` (``True``: must not exist yet). ``Client.commit`` takes
these or plain dicts in the API's own shape (``{"op": "put_file", ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class _Guarded:
    op: ClassVar[str]
    if_match: str | None = None
    if_none_match: bool = False


@dataclass(frozen=True)
class PutFile(_Guarded):
    """A file whose bytes are the blob ``sha256`` (uploaded first, or held by a dataset
    you can read)."""

    op: ClassVar[str] = "put_file"
    path: str
    sha256: str
    media_type: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class DeleteFile(_Guarded):
    op: ClassVar[str] = "delete_file"
    path: str


@dataclass(frozen=True)
class PutSymlink(_Guarded):
    op: ClassVar[str] = "put_symlink"
    path: str
    target: str
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class PutRecord(_Guarded):
    """A record: any JSON value, with ``{"type", "data"}`` tags for Buffers, Sets, ..."""

    op: ClassVar[str] = "put_record"
    id: str
    value: Any
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class DeleteRecord(_Guarded):
    op: ClassVar[str] = "delete_record"
    id: str


Change = PutFile | DeleteFile | PutSymlink | PutRecord | DeleteRecord


def change_json(change: Change | dict[str, Any]) -> dict[str, Any]:
    """A change as the commit body holds it. Defaults are left out, except a record's
    ``value`` (``None`` is the JSON value null there)."""
    if isinstance(change, dict):
        return change
    body: dict[str, Any] = {"op": change.op}
    # The fields one level deep: ``asdict`` would deep-copy every value on the way (a
    # third of a second for the 10,000 changes of a push), and the JSON encoder reads them.
    kind = type(change)
    names = _NAMES.get(kind) or _NAMES.setdefault(kind, tuple(f.name for f in fields(change)))
    for name in names:
        value = getattr(change, name)
        if (value is not None and value is not False) or name == "value":
            body[name] = value
    return body


_NAMES: dict[type, tuple[str, ...]] = {}  # each kind's fields (``fields`` took 10 us a call)
