"""Folders: a dataset's files seen as a tree, for dialects that speak in directories.

Folders are path prefixes: ``a/b`` exists while some file's path starts with ``a/b/``. A
folder made empty on purpose keeps itself alive with an empty ``FOLDER_MARKER`` file, which
listings here hide. Listing a folder (``scan_folder``, which Pbench's contents use too) is a
keyset scan of the dataset's live paths that jumps over each subfolder's contents with one
more range query, so a page costs the same wherever it starts, and a subfolder of a million
files costs a few rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal
from dataloft.core.changes import DeleteFolder, MakeFolder
from dataloft.core.commits import CommitService, files_under, live_at
from dataloft.core.datasets import DatasetService
from dataloft.core.errors import Conflict, Invalid, NotFound
from dataloft.core.names import FOLDER_MARKER, ancestors, prefix_upper_bound, validate_path
from dataloft.core.pagination import MAX_LIMIT, clamp_limit, decode_cursor, encode_cursor
from dataloft.core.tags import VersionRef, version_at
from dataloft.db import Database
from dataloft.db.models import Entry, Version

_FOLDER, _FILE = "d", "f"


@dataclass(frozen=True)
class TreeFile:
    name: str
    size: int
    modified: datetime  # when this content was committed


@dataclass(frozen=True)
class FolderPage:
    """One page of a folder's children in path order; each list sorted by name."""

    folders: list[str]
    files: list[TreeFile]
    marker: str | None  # where the next page starts; None on the last page


@dataclass(frozen=True)
class _Start:
    key: str
    inclusive: bool


class TreeService:
    def __init__(
        self,
        db: Database,
        datasets: DatasetService,
        commits: CommitService,
        *,
        max_path_length: int,
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.commits = commits
        self.max_path_length = max_path_length

    def list_folder(
        self,
        actor: Principal,
        owner: str,
        name: str,
        folder: str = "",
        *,
        marker: str | None = None,
        limit: int | None = None,
    ) -> FolderPage:
        """The subfolders and files directly inside ``folder`` ("" for the dataset's root)
        at the head version, at most ``limit`` (default and maximum 1000) of them together."""
        return self.list_folder_at(actor, owner, name, folder, marker=marker, limit=limit)[1]

    def list_folder_at(
        self,
        actor: Principal,
        owner: str,
        name: str,
        folder: str = "",
        *,
        version: VersionRef | None = None,
        marker: str | None = None,
        limit: int | None = None,
    ) -> tuple[int, FolderPage]:
        """``list_folder`` at ``version`` (the head by default): the version read, and the
        page. An older version's folder is read from the same index, over its rows'
        lifetimes instead of the live rows."""
        size = clamp_limit(limit, default=MAX_LIMIT)
        prefix = self._prefix(folder)
        start = _decode_marker(marker, prefix) if marker else _Start(prefix, True)
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            at = version_at(self.db, located, version)
            alive = live_at(at, located.row.head)
            dataset_id = located.row.id
            if folder and not self._has_files(session, dataset_id, prefix, alive):
                raise NotFound(f"folder {folder!r} not found in {owner}/{name} at version {at}")
            children = self._children(session, dataset_id, prefix, start, size + 1, alive)
        more = len(children) > size
        children = children[:size]
        folders = sorted(c.name for c in children if isinstance(c, Subfolder))
        files = sorted((c for c in children if isinstance(c, TreeFile)), key=lambda f: f.name)
        next_marker = None
        if more:
            last = children[-1]
            kind = _FOLDER if isinstance(last, Subfolder) else _FILE
            next_marker = encode_cursor(kind, last.name)
        return at, FolderPage(folders, files, next_marker)

    def folder_exists(self, actor: Principal, owner: str, name: str, folder: str) -> bool:
        prefix = self._prefix(folder)
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            return self._has_files(session, located.row.id, prefix)

    def make_folder(self, actor: Principal, owner: str, name: str, folder: str) -> None:
        """Create an empty folder (its marker file) in a new version. Its parent folder must
        exist; a file or folder of that name must not."""
        validate_path(folder, self.max_path_length)
        parents = ancestors(folder)
        if parents and not self.folder_exists(actor, owner, name, parents[-1]):
            raise NotFound(f"folder {parents[-1]!r} not found in {owner}/{name}")
        if self.folder_exists(actor, owner, name, folder):
            raise Conflict(f"folder {folder!r} already exists in {owner}/{name}")
        change = MakeFolder(folder)
        self.commits.commit(actor, owner, name, [change], message=f"create folder {folder}")

    def delete_folder(
        self, actor: Principal, owner: str, name: str, folder: str, *, force: bool
    ) -> int:
        """Delete a folder in a new version: only an empty one unless ``force``, then with
        everything inside. Returns how many files went (folder markers not counted)."""
        change = DeleteFolder(folder, must_be_empty=not force)
        message = f"delete folder {folder}" + (" and its contents" if force else "")
        result = self.commits.commit(actor, owner, name, [change], message=message)
        return result.removed_in_folders

    def delete_collection(self, actor: Principal, owner: str, name: str, *, force: bool) -> int:
        """Delete a whole dataset (softly: it can be restored): only an empty one unless
        ``force``. Returns how many files and records went (folder markers not counted)."""
        gone = self.datasets.delete(actor, owner, name, only_if_empty=not force)
        with self.db.read() as session:
            markers = session.scalar(
                select(func.count()).where(
                    files_under(gone.id, ""),
                    or_(Entry.path == FOLDER_MARKER, Entry.path.endswith("/" + FOLDER_MARKER)),
                )
            )
        return gone.file_count - (markers or 0) + gone.record_count

    # --- helpers ---------------------------------------------------------------------------

    def _prefix(self, folder: str) -> str:
        if not folder:
            return ""
        return validate_path(folder, self.max_path_length) + "/"

    @staticmethod
    def _has_files(
        session: Session, dataset_id: int, prefix: str, alive: ColumnElement[bool] | None = None
    ) -> bool:
        under = files_under(dataset_id, prefix, alive=alive)
        return session.scalar(select(Entry.id).where(under).limit(1)) is not None

    @staticmethod
    def _children(
        session: Session,
        dataset_id: int,
        prefix: str,
        start: _Start,
        wanted: int,
        alive: ColumnElement[bool] | None = None,
    ) -> list[Subfolder | TreeFile]:
        """Up to ``wanted`` children of ``prefix`` in path order from ``start`` (symlinks
        among the files, as the files they stand for)."""
        scan = scan_folder(
            session,
            dataset_id,
            prefix,
            start.key,
            inclusive=start.inclusive,
            most=wanted,
            alive=alive,
        )
        return [
            TreeFile(c.name, c.size, c.created) if isinstance(c, Member) else c
            for c in islice(scan, wanted)
        ]


@dataclass(frozen=True)
class Subfolder:
    name: str


@dataclass(frozen=True)
class Member:
    """A file or a symlink directly inside the folder scanned."""

    name: str
    kind: str  # "file" | "symlink"
    size: int
    created: datetime  # when this content was committed
    target: str | None  # a symlink's, as stored (relative to its folder)


# A scan asks for this many rows first, and after each subfolder it jumps over; twice as
# many each time a batch brings only children, up to ``most``. Rows are read one by one
# and a batch is left at a subfolder's first row (SQLite computes no row it is not asked
# for); a database that sends the whole batch at once (PostgreSQL) wastes at most the
# batch's rest, which a small batch after each jump keeps to a few rows per subfolder,
# however large it is, while a folder of many files still takes few queries.
FIRST_BATCH = 32


def scan_folder(
    session: Session,
    dataset_id: int,
    prefix: str,
    start: str | None = None,
    *,
    inclusive: bool = True,
    most: int = MAX_LIMIT,
    alive: ColumnElement[bool] | None = None,
) -> Iterator[Subfolder | Member]:
    """The children of the folder ``prefix`` ("" for the root, else ending in "/") at the
    head version (or where ``alive`` says: ``live_at``), in path order from ``start``
    (default: the first): files and symlinks as they come (folder markers hidden), and each
    subfolder once, after which the scan resumes past everything inside it. Reads a batch
    at a time: stop when you have enough."""
    key, after = (prefix, True) if start is None else (start, inclusive)
    limit = min(FIRST_BATCH, most)
    while True:
        # Core, not ORM, execution: its rows come from the cursor as they are asked for.
        result = session.connection().execute(
            select(Entry.path, Entry.kind, Entry.size, Entry.target, Version.created)
            .join(
                Version,
                and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since),
            )
            .where(files_under(dataset_id, prefix, key, inclusive=after, alive=alive))
            .order_by(Entry.path)
            .limit(limit)
        )
        batch: list[Subfolder | Member] = []
        jump: str | None = None
        read, last = 0, key
        try:
            for path, kind, size, target, created in result:
                read, last = read + 1, path
                child, slash, _ = path[len(prefix) :].partition("/")
                if slash:
                    batch.append(Subfolder(child))
                    jump = prefix_upper_bound(f"{prefix}{child}/")
                    assert jump is not None  # a prefix ending in "/" always has one
                    break
                if child != FOLDER_MARKER:
                    batch.append(Member(child, kind, size, created, target))
        finally:
            result.close()
        yield from batch
        if jump is not None:
            key, after, limit = jump, True, min(FIRST_BATCH, most)
        elif read < limit:
            return  # the folder holds no more
        else:
            key, after, limit = last, False, min(limit * 2, most)


def _decode_marker(marker: str, prefix: str) -> _Start:
    try:
        kind, child = decode_cursor(marker, str, str)
    except Invalid:
        raise Invalid(f"invalid marker {marker!r}") from None
    if kind not in (_FOLDER, _FILE) or not child or "/" in child:
        raise Invalid(f"invalid marker {marker!r}")
    if kind == _FILE:
        return _Start(prefix + child, False)
    bound = prefix_upper_bound(f"{prefix}{child}/")
    assert bound is not None  # a prefix ending in "/" always has one
    return _Start(bound, True)
