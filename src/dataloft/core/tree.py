"""Folders: a dataset's files seen as a tree, for dialects that speak in directories.

Folders are path prefixes: ``a/b`` exists while some file's path starts with ``a/b/``. A
folder made empty on purpose keeps itself alive with an empty ``FOLDER_MARKER`` file, which
listings here hide. Listing a folder (``scan_folder``, which Pbench's contents use too) is a
keyset scan of the dataset's live paths that jumps over each subfolder's contents inside
the database (one statement walks from child to child), so a page costs the same wherever
it starts and whatever its subfolders hold: a subfolder of a million files costs one index
seek.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import islice

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal
from dataloft.core.changes import DeleteFolder, MakeFolder
from dataloft.core.commits import CommitService, files_under, live_at, live_files, live_in
from dataloft.core.datasets import DatasetService
from dataloft.core.errors import Conflict, Invalid, NotFound
from dataloft.core.names import FOLDER_MARKER, ancestors, prefix_upper_bound, validate_path
from dataloft.core.pagination import MAX_LIMIT, clamp_limit, decode_cursor, encode_cursor
from dataloft.core.tags import VersionRef, version_at
from dataloft.db import Database
from dataloft.db.models import Entry, Version
from dataloft.db.prepared import Prepared
from dataloft.db.strings import Position

_FOLDER, _FILE = "d", "f"


@dataclass(frozen=True)
class TreeFile:
    name: str
    size: int
    modified: datetime  # when this content was committed
    media_type: str


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
            dataset_id, head = located.row.id, located.row.head
            if folder and not self._has_files(session, dataset_id, prefix, live_at(at, head)):
                raise NotFound(f"folder {folder!r} not found in {owner}/{name} at version {at}")
            older = None if at == head else at
            children = self._children(session, dataset_id, prefix, start, size + 1, older)
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
        version: int | None,
    ) -> list[Subfolder | TreeFile]:
        """Up to ``wanted`` children of ``prefix`` in path order from ``start``, at the head
        or at an older ``version`` (symlinks among the files, as the files they stand
        for)."""
        scan = scan_folder(
            session,
            dataset_id,
            prefix,
            start.key,
            inclusive=start.inclusive,
            most=wanted,
            version=version,
        )
        return [
            TreeFile(c.name, c.size, c.created, c.media_type) if isinstance(c, Member) else c
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
    media_type: str


# A scan reads the folder's rows in path order, FIRST_BATCH first and twice as many each
# time a batch brings only files, up to ``most``: a run of files is read as it lies in the
# index. Rows come from the cursor one by one, and a batch is left at the first
# subfolder's first row (SQLite computes no row it is not asked for; PostgreSQL sends the
# whole batch, so a small first batch keeps what is sent for nothing small). From a
# subfolder on, the scan walks (``_walk``): one statement that seeks each next child in
# turn, jumping over every subfolder's contents inside the database. A jump used to be a
# statement of its own: 200 children of a folder of 100 subfolders (of 1,000 files each)
# took 101 statements, 40 ms on SQLite and 90 ms on PostgreSQL; walked, 1.7 ms and 4 ms.
FIRST_BATCH = 32

# Files a walk steps over in a row before the scan reads on instead, by database: a seek
# per child costs PostgreSQL about 8 us where reading the next row costs 2 (the Algorithmia
# benchmark's page of 1,000 entries, a subfolder half-way: 19 ms walked on to its end, 13
# read on), and SQLite about what a read does, so there a walk goes on to its batch's end.
WALKED_FILES = {"postgresql": 32}

# U+0001: the least character a path may hold (paths hold no control characters), so
# ``p + _LEAST`` is the first path that may follow ``p``.
_LEAST = "\x01"

# path, kind, size, target, created, media type
_Row = tuple[str, str, int, str | None, datetime, str]


def scan_folder(
    session: Session,
    dataset_id: int,
    prefix: str,
    start: str | None = None,
    *,
    inclusive: bool = True,
    most: int = MAX_LIMIT,
    version: int | None = None,
) -> Iterator[Subfolder | Member]:
    """The children of the folder ``prefix`` ("" for the root, else ending in "/") at the
    head version (or at ``version``, which need not be the head), in path order from
    ``start`` (default: the first): files and symlinks as they come (folder markers
    hidden), and each subfolder once, after which the scan resumes past everything inside
    it. Reads a batch at a time, of at most ``most`` children: stop when you have enough."""
    key, after = (prefix, True) if start is None else (start, inclusive)
    limit, walking = min(FIRST_BATCH, most), False
    while True:
        if walking:
            rows, ended = _walk(session, dataset_id, prefix, key, after, most, version)
        else:
            rows = _rows_in_order(session, dataset_id, prefix, key, after, limit, version)
            ended = len(rows) < limit  # unless it stopped at a subfolder (below)
        for path, kind, size, target, created, media_type in rows:
            child, slash, _ = path[len(prefix) :].partition("/")
            if slash:
                yield Subfolder(child)
            elif child != FOLDER_MARKER:
                yield Member(child, kind, size, created, target, media_type)
        if not rows:
            return
        # Resume past the last child: past everything inside it if it was a subfolder.
        child, slash, _ = rows[-1][0][len(prefix) :].partition("/")
        key, after = (_past_folder(prefix + child), True) if slash else (rows[-1][0], False)
        if slash and not walking:
            limit, walking = most, True
        elif ended:
            return  # the folder holds no more
        elif not walking:
            limit = min(limit * 2, most)
        elif len(rows) < most:  # the walk met a run of files: read them on
            limit, walking = min(FIRST_BATCH, most), False


def _rows_in_order(
    session: Session,
    dataset_id: int,
    prefix: str,
    key: str,
    inclusive: bool,
    limit: int,
    version: int | None,
) -> list[_Row]:
    """The next rows under ``prefix`` from ``key`` in path order, at most ``limit``, up to
    the first subfolder's first row."""
    alive = None if version is None else live_in(version)
    query = (
        select(Entry.path, Entry.kind, Entry.size, Entry.target, Version.created, Entry.media_type)
        .join(Version, and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since))
        .where(files_under(dataset_id, prefix, key, inclusive=inclusive, alive=alive))
        .order_by(Entry.path)
        .limit(limit)
    )
    rows: list[_Row] = []
    # Core, not ORM, execution: its rows come from the cursor as they are asked for.
    with session.connection().execute(query) as result:
        for path, kind, size, target, created, media_type in result:
            rows.append((path, kind, size, target, created, media_type))
            if "/" in path[len(prefix) :]:
                break
    return rows


def _walk(
    session: Session,
    dataset_id: int,
    prefix: str,
    key: str,
    inclusive: bool,
    steps: int,
    version: int | None,
) -> tuple[list[_Row], bool]:
    """The next children under ``prefix`` from ``key``, a row each (a subfolder's is its
    first path) in path order, up to ``steps`` of them or a run of ``WALKED_FILES``
    files (``_walk_statement``); and whether the folder ends after them."""
    connection = session.connection()
    params = {
        "dataset_id": dataset_id,
        "key": max(key if inclusive else key + _LEAST, prefix),
        "prefix_length": len(prefix),
        "steps": steps,
        "files": WALKED_FILES.get(connection.dialect.name, steps),
    }
    if prefix:
        params["upper"] = prefix_upper_bound(prefix)
    if version is not None:
        params["at"] = version
    statement = _walk_statement(below_top=bool(prefix), at_head=version is None)
    dbapi = connection.connection.dbapi_connection
    rows = statement.rows(dbapi, connection.dialect, params)
    if rows and rows[-1][0] is None:  # the step that found nothing
        return rows[:-1], True
    return rows, False


@cache
def _walk_statement(*, below_top: bool, at_head: bool) -> Prepared:
    """The walk of a folder (the top, or one ``below_top`` whose paths end before
    ``:upper``), at the head or at version ``:at``: a recursive query whose every step is
    one index seek (a "loose index scan"), from ``:key`` on, to the first path after the
    child the step before found: after that file, or after everything inside that
    subfolder. A subfolder's paths ``prefix/child/...`` end before ``prefix/child0`` ('0'
    follows '/', as ``_past_folder`` says); a file ``p`` is followed by ``p + _LEAST`` or
    later. It stops after ``:steps`` steps, after a file that ends a run of ``:files``
    files, or at a step that finds nothing, whose row (the last) has no path. Each child's
    row is as ``_rows_in_order`` gives it. Compiled once (``Prepared``): building the
    statement took longer than running it.

    Like the other queries of entries, it needs PostgreSQL's statistics of the table
    (gathered after any big commit, ``db/statistics.py``, and by autovacuum): without any, the
    planner may take ``ix_entries_until`` for as selective as the path index, and then
    each seek reads all the dataset's live rows (a page of a 100,000-file dataset: 6.6 s,
    where the statistics make it 4 ms)."""
    alive = None if at_head else live_in(bindparam("at", type_=Integer))
    live = live_files(bindparam("dataset_id", type_=Integer), alive)
    upper = [Entry.path < bindparam("upper")] if below_top else []

    def first_from(lower: ColumnElement[str]) -> Select[str]:
        return select(func.min(Entry.path)).where(live, Entry.path >= lower, *upper)

    start = first_from(bindparam("key")).correlate(None).scalar_subquery()
    first = select(
        literal_column("1").label("n"), start.label("path"), literal_column("0").label("files")
    )
    walk = first.cte("walk", recursive=True)
    found = walk.c.path
    prefix_length = bindparam("prefix_length", type_=Integer)
    slash = Position(func.substr(found, prefix_length + 1), "/")
    past = case(
        (slash > 0, func.substr(found, 1, prefix_length + slash - 1).concat("0")),
        else_=found.concat(_LEAST),
    )
    following = first_from(past).correlate(walk).scalar_subquery()
    files = case((slash > 0, 0), else_=walk.c.files + 1)  # in a row, up to ``found``
    step = select(walk.c.n + 1, following, files).where(
        found.is_not(None),
        walk.c.n < bindparam("steps", type_=Integer),
        walk.c.files < bindparam("files", type_=Integer),
    )
    children = walk.union_all(step)
    return Prepared(
        select(
            children.c.path,
            Entry.kind,
            Entry.size,
            Entry.target,
            Version.created,
            Entry.media_type,
        )
        .select_from(children)
        .outerjoin(Entry, and_(live, Entry.path == children.c.path))
        .outerjoin(
            Version, and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since)
        )
        .order_by(children.c.n)
    )


def _past_folder(folder: str) -> str:
    """The first path after everything inside ``folder``."""
    bound = prefix_upper_bound(folder + "/")
    assert bound is not None  # a prefix ending in "/" always has one
    return bound


def _decode_marker(marker: str, prefix: str) -> _Start:
    try:
        kind, child = decode_cursor(marker, str, str)
    except Invalid:
        raise Invalid(f"invalid marker {marker!r}") from None
    if kind not in (_FOLDER, _FILE) or not child or "/" in child:
        raise Invalid(f"invalid marker {marker!r}")
    if kind == _FILE:
        return _Start(prefix + child, False)
    return _Start(_past_folder(prefix + child), True)
