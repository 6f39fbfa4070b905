"""Folders: a dataset's files seen as a tree, for dialects that speak in directories.

Folders are path prefixes: ``a/b`` exists while some file's path starts with ``a/b/``. A
folder made empty on purpose keeps itself alive with an empty ``FOLDER_MARKER`` file, which
listings here hide. Listing a folder is a keyset scan of the dataset's live paths that jumps
over each subfolder's contents with one more range query, so a page costs the same wherever
it starts, and a subfolder of a million files costs one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal
from dataloft.core.changes import DeleteFolder, MakeFolder
from dataloft.core.commits import CommitService, files_under
from dataloft.core.datasets import DatasetService
from dataloft.core.errors import Conflict, Invalid, NotFound
from dataloft.core.names import FOLDER_MARKER, ancestors, prefix_upper_bound, validate_path
from dataloft.core.pagination import MAX_LIMIT, clamp_limit, decode_cursor, encode_cursor
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
        size = clamp_limit(limit, default=MAX_LIMIT)
        prefix = self._prefix(folder)
        start = _decode_marker(marker, prefix) if marker else _Start(prefix, True)
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            dataset_id = located.row.id
            if folder and not self._has_files(session, dataset_id, prefix):
                raise NotFound(f"folder {folder!r} not found in {owner}/{name}")
            children = self._children(session, dataset_id, prefix, start, size + 1)
        more = len(children) > size
        children = children[:size]
        folders = sorted(c.name for c in children if isinstance(c, _Folder))
        files = sorted((c for c in children if isinstance(c, TreeFile)), key=lambda f: f.name)
        next_marker = None
        if more:
            last = children[-1]
            kind = _FOLDER if isinstance(last, _Folder) else _FILE
            next_marker = encode_cursor(kind, last.name)
        return FolderPage(folders, files, next_marker)

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
    def _has_files(session: Session, dataset_id: int, prefix: str) -> bool:
        found = session.scalar(select(Entry.id).where(files_under(dataset_id, prefix)).limit(1))
        return found is not None

    @staticmethod
    def _children(
        session: Session, dataset_id: int, prefix: str, start: _Start, wanted: int
    ) -> list[_Folder | TreeFile]:
        """Up to ``wanted`` children of ``prefix`` in path order from ``start``: files as
        they come, and each subfolder once, after which the scan resumes past everything
        inside it."""
        children: list[_Folder | TreeFile] = []
        while len(children) < wanted:
            asked = wanted - len(children)
            rows = session.execute(
                select(Entry.path, Entry.size, Version.created)
                .join(
                    Version,
                    and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since),
                )
                .where(files_under(dataset_id, prefix, start.key, inclusive=start.inclusive))
                .order_by(Entry.path)
                .limit(asked)
            ).all()
            skip_below: str | None = None
            for path, size, created in rows:
                if len(children) == wanted:
                    return children
                if skip_below is not None and path < skip_below:
                    continue  # inside the subfolder just reported
                child, slash, _ = path[len(prefix) :].partition("/")
                if slash:
                    skip_below = prefix_upper_bound(f"{prefix}{child}/")
                    children.append(_Folder(child))
                else:
                    skip_below = None
                    if child != FOLDER_MARKER:
                        children.append(TreeFile(child, size, created))
            if len(rows) < asked:
                return children  # the folder holds no more
            if skip_below is not None:
                start = _Start(skip_below, True)
            else:
                start = _Start(rows[-1][0], False)
        return children


@dataclass(frozen=True)
class _Folder:
    name: str


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
