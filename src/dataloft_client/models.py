"""What the server answers, as frozen dataclasses: one per resource of the native API
(``docs/native-api.md``), built from its JSON by one reader that follows the type hints
(times become ``datetime``, nested objects their classes). Each keeps the JSON it came from
as ``raw``, so a field the server adds later is there before this module knows of it."""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from functools import cache
from typing import Any, Self, get_args, get_origin

from dataloft_client._exceptions import DataloftError


@dataclass(frozen=True)
class Model:
    raw: dict[str, Any] = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            raise DataloftError(f"expected a {cls.__name__} object, got {data!r:.200}")
        values: dict[str, Any] = {}
        for name, hint, required, plain in _fields(cls):  # type: ignore[arg-type]
            if name in data:
                value = data[name]
                if type(value) in plain:  # nothing to convert: most fields of a listing
                    values[name] = value
                else:
                    values[name] = _convert(hint, value, f"{cls.__name__}.{name}")
            elif required:
                raise DataloftError(f"the server's {cls.__name__} lacks {name!r}")
        return cls(**values, raw=data)


@cache
def _fields(cls: type[Model]) -> list[tuple[str, Any, bool, frozenset[type]]]:
    hints = typing.get_type_hints(cls)
    return [
        (
            f.name,
            hints[f.name],
            f.default is MISSING and f.default_factory is MISSING,
            _plain(hints[f.name]),
        )
        for f in fields(cls)
        if f.name != "raw"
    ]


def _plain(hint: Any) -> frozenset[type]:
    """The JSON types a field of type ``hint`` takes as they are (``_convert`` would
    return them unchanged): 10,000 entries of a listing have 80,000 fields to read."""
    if get_origin(hint) in (types.UnionType, typing.Union):
        return frozenset().union(*(_plain(arg) for arg in get_args(hint)))
    if hint is type(None):
        return frozenset({type(None)})
    if hint is float:
        return frozenset({int, float})
    if hint in (str, int, bool):
        return frozenset({hint})
    return frozenset()


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return _convert(inner, value, where)
    if origin is list and isinstance(value, list):
        (inner,) = get_args(hint)
        if inner is str and all(type(item) is str for item in value):
            return value  # a commit's 10,000 outcomes: one check each, not a call each
        return [_convert(inner, item, where) for item in value]
    if hint is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Model):
        return hint.from_json(value)
    if hint is Any or origin is dict or _is_instance(value, hint):
        return value
    raise DataloftError(f"the server sent {value!r:.100} for {where}")


def _is_instance(value: Any, hint: Any) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


# --- accounts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class User(Model):
    id: int
    username: str
    email: str | None
    full_name: str | None
    is_admin: bool
    is_active: bool
    created: datetime


@dataclass(frozen=True)
class Me(Model):
    """Who the token belongs to, and their level (``R``, ``X``, ``W``, ``A``) per team."""

    user: User
    teams: dict[str, str]


@dataclass(frozen=True)
class Token(Model):
    """An API token as listed: never its secret. ``prefix`` is its first characters."""

    id: int
    username: str
    name: str
    prefix: str
    scope: str | None
    created: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class NewToken(Model):
    """A token just made: ``token`` is the secret, shown this once."""

    token: str
    id: int
    name: str
    scope: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Member(Model):
    team: str
    username: str
    level: str
    created: datetime


@dataclass(frozen=True)
class Team(Model):
    id: int
    name: str
    description: str
    created: datetime
    members: list[Member] = field(default_factory=list)


@dataclass(frozen=True)
class Project(Model):
    id: int
    team: str
    name: str
    description: str
    created: datetime


@dataclass(frozen=True)
class Licence(Model):
    id: int
    name: str
    url: str
    permissions: list[str]
    conditions: list[str]
    limitations: list[str]
    domains: list[str]


# --- datasets and their contents -------------------------------------------------------------


@dataclass(frozen=True)
class Dataset(Model):
    id: int
    uid: str
    owner: str
    name: str
    description: str
    tags: list[str]
    visibility: str
    licence: str | None
    project: str | None
    metadata: dict[str, Any]
    version: int
    file_count: int
    record_count: int
    total_bytes: int
    created: datetime
    updated: datetime
    deleted_at: datetime | None

    @property
    def repo(self) -> str:
        """``owner/name``, as every method takes it."""
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class Version(Model):
    number: int
    parent: int | None
    author: str | None
    message: str
    created: datetime
    added: int
    changed: int
    removed: int
    file_count: int
    record_count: int
    total_bytes: int


@dataclass(frozen=True)
class Entry(Model):
    """A file, symlink or record. ``version`` is where this content first appeared."""

    kind: str
    path: str
    size: int
    sha256: str | None
    media_type: str
    version: int
    metadata: dict[str, Any] | None
    target: str | None = None


@dataclass(frozen=True)
class WriteResult(Model):
    """The answer to a single-entry write: the new version, ``added``, ``changed``,
    ``unchanged`` or ``removed``, and the entry (``None`` when removed)."""

    version: int
    outcome: str
    entry: Entry | None


@dataclass(frozen=True)
class CommitResult(Model):
    """The version a commit made, and one outcome per change, in order."""

    version: Version
    outcomes: list[str]


@dataclass(frozen=True)
class DiffItem(Model):
    change: str  # added, removed, changed
    kind: str
    path: str
    old: Entry | None
    new: Entry | None


@dataclass(frozen=True)
class Tag(Model):
    name: str
    version: int
    author: str | None
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class Event(Model):
    """One entry of the event log; ``seq`` orders them all."""

    seq: int
    kind: str
    created: datetime
    dataset: str | None
    version: int | None
    actor: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Lens(Model):
    """A lens: its dataset (read its records like any dataset's), configuration and build
    status (``status["state"]``: pending, building, ready or failed)."""

    dataset: Dataset
    inputs: list[str]
    code: str
    reduce_code: str | None
    memo: str
    status: dict[str, Any]


@dataclass(frozen=True)
class FileInfo:
    """What ``HEAD`` says of a file: its size and sha256 (``None`` for a symlink, whose
    ``target`` is set), media type, and the dataset version that was read (``None`` if
    the answer did not say, as through a proxy that drops headers)."""

    path: str
    kind: str
    size: int
    sha256: str | None
    media_type: str | None
    version: int | None
    last_modified: datetime | None
    target: str | None
