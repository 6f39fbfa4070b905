"""What services return: plain frozen dataclasses, detached from the database session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    email: str | None
    full_name: str | None
    is_admin: bool
    is_active: bool
    created: datetime
    last_login: datetime | None = None  # when they last logged in with their password


@dataclass(frozen=True)
class TokenView:
    id: int
    username: str
    name: str
    prefix: str
    scope: str | None
    created: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    """A freshly made token: the only time its secret is ever shown."""

    secret: str
    token: TokenView


@dataclass(frozen=True)
class MemberView:
    team: str
    username: str
    level: str
    created: datetime


@dataclass(frozen=True)
class TeamView:
    id: int
    name: str
    description: str
    created: datetime
    members: list[MemberView] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectView:
    id: int
    team: str
    name: str
    description: str
    created: datetime


@dataclass(frozen=True)
class MembershipRecord:
    team_id: int
    user_id: int
    username: str
    level: str
    created: datetime
    created_by: int | None
    deleted_at: datetime | None = None  # set on the record of a membership just ended


@dataclass(frozen=True)
class TeamRecord:
    """A team with its lifecycle; ``members`` are (user id, username) in username order."""

    id: int
    name: str
    created: datetime
    created_by: int | None
    deleted_at: datetime | None
    members: list[tuple[int, str]]


@dataclass(frozen=True)
class ProjectRecord:
    id: int
    name: str
    team_id: int
    created: datetime
    created_by: int | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class NamedDatasetView:
    """A dataset named by name and version within its project (UFDL's), with its files
    as (name, sha256, annotations) in the order they were added (``annotations``: the
    file entry's metadata, see ``core/named_versions.py``)."""

    id: int
    name: str
    version: int
    previous_version: int
    description: str
    project_id: int | None
    licence_id: int | None
    public: bool
    domain: str | None  # the domain's description, as UFDL shows it
    tags: list[str]
    creator: int
    created: datetime
    deleted_at: datetime | None
    files: list[tuple[str, str, dict[str, Any]]]


@dataclass(frozen=True)
class LogRecord:
    """A message a client left in the server's log (UFDL's log entries)."""

    id: int  # the event's sequence number
    created: datetime
    level: int
    message: str


@dataclass(frozen=True)
class DomainRecord:
    id: int
    code: str
    description: str


@dataclass(frozen=True)
class NodeRecord:
    id: int
    ip: str
    index: int
    driver_version: str | None
    hardware_generation: str | None
    gpu_mem: int | None
    cpu_mem: int | None
    last_seen: datetime | None
    created_by: int


@dataclass(frozen=True)
class LicenceView:
    id: int
    name: str
    url: str
    permissions: list[str]
    conditions: list[str]
    limitations: list[str]
    domains: list[str]


@dataclass(frozen=True)
class DatasetView:
    id: int
    uid: str
    owner: str
    name: str
    description: str
    tags: list[str]
    visibility: str
    licence: str | None
    project: str | None  # "team/project"
    metadata: dict[str, Any]
    version: int
    file_count: int
    record_count: int
    total_bytes: int
    created: datetime
    updated: datetime
    deleted_at: datetime | None

    @property
    def address(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class VersionView:
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


class EntrySummary(NamedTuple):
    """What a listing of a whole key space needs of an entry, read as plain rows in one
    query: reading a 10,000-record Pigeon Optics index as an ``EntryView`` per ORM row,
    a page of 1,000 at a time, took about 155 ms; as these rows, about 20 ms. Entries
    with the same metadata share one decoded document: read it, never change it."""

    path: str
    sha256: str | None
    metadata: dict[str, Any] | None
    version: int  # the version in which this content appeared


@dataclass(frozen=True)
class EntryView:
    kind: str  # "file" | "symlink" | "record"
    path: str
    size: int
    sha256: str | None
    media_type: str
    version: int  # the version in which this content appeared
    metadata: dict[str, Any] | None
    target: str | None = None  # symlinks only

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"' if self.sha256 else f'"v{self.version}"'


@dataclass(frozen=True)
class DiffItem:
    change: str  # "added" | "removed" | "changed"
    kind: str
    path: str
    old: EntryView | None
    new: EntryView | None


@dataclass(frozen=True)
class EventView:
    seq: int
    kind: str
    created: datetime
    dataset: str | None  # "owner/name" when the event concerns a dataset
    version: int | None
    actor: str | None
    payload: dict[str, Any]
