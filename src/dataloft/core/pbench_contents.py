"""What a Pbench dataset's tarball holds, read from its index: the directory listings of
Pbench's ``contents`` API and the files of its ``inventory`` API.

Pbench Server unpacked the whole tarball into a cache on the first such request and asked
the file system; here the upload's index (``core/pbench_intake.py``: the members under
``<name>/`` as the entries of the dataset's version) answers, so nothing is unpacked and a
request costs what the directory asked for costs, not what the dataset holds:

- a directory is listed by ``core/tree.py``'s ``scan_folder``, which reads its children
  and jumps over each subdirectory's contents inside the database, one index seek each;
- a path is found, and a symlink followed, as a POSIX system would once the tarball is
  extracted (``_Walk``): segment by segment from the top directory, each segment one point
  lookup of the head version's live entries, a segment that is a symlink replaced by its
  target (relative to the link's folder), ``..`` taken from wherever the walk stands, at
  most ``MAX_HOPS`` links in all. ``core/symlinks.py``'s ``LinkResolver`` is the same
  walk over every link of a version at once, for commits; reading all of them to follow
  one would cost what the dataset holds.

Everything one request reads is read in one transaction: one version, whatever commits
while it runs. A symlink's kind is what its target is in that version: a file, a
directory, or nothing (``BROKEN``: it leads outside the top directory, loops, goes
through more than ``MAX_HOPS`` links, or names what does not exist; Pbench Server said
``OTHER`` for a missing target inside the tarball, but its own notes call such a link
broken). Entries have no other kinds (devices and fifos were skipped at upload), so
``OTHER`` is never given.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataloft.core.access import Principal
from dataloft.core.blobs import BlobRef
from dataloft.core.changes import FILES
from dataloft.core.commits import files_under
from dataloft.core.errors import Invalid, NotFound
from dataloft.core.names import FOLDER_MARKER
from dataloft.core.pbench_datasets import PbenchDatasets, PbenchRun
from dataloft.core.symlinks import MAX_HOPS
from dataloft.core.tree import Member, scan_folder
from dataloft.db import Database
from dataloft.db.models import Blob, Entry, Version

ItemType = Literal["DIRECTORY", "FILE", "SYMLINK", "OTHER"]
LinkType = Literal["DIRECTORY", "FILE", "OTHER", "BROKEN"]
NOT_A_FILE = "The specified path does not refer to a regular file"
SUFFIX = ".tar.xz"
# Rows a directory listing asks for at most at once (``scan_folder``'s largest batch).
LISTING_BATCH = 1000


@dataclass(frozen=True)
class Item:
    """One thing in a directory, or the one a path names: a directory, a regular file or
    a symlink. ``path`` is where it is, relative to the tarball's top directory."""

    name: str
    path: str
    type: ItemType
    size: int | None = None  # a file's; a link's that leads to a file, when asked for alone
    link: str | None = None  # where a link leads (relative to the top); broken: its text
    link_type: LinkType | None = None


@dataclass(frozen=True)
class DirectoryListing:
    """A directory (``path`` "" and ``name`` "" for the top one): its subdirectories (and
    links to directories) and its files (and the other links), each sorted by name."""

    name: str
    path: str
    directories: list[Item]
    files: list[Item]


@dataclass(frozen=True)
class MemberFile:
    """A regular file's bytes to send, named as the caller asked for it (a link's own name
    when a link led to the file)."""

    name: str
    blob: BlobRef
    etag: str
    modified: datetime


@dataclass(frozen=True)
class MemberDirectory:
    """The path asked for is a directory (or leads to one)."""

    path: str


@dataclass(frozen=True)
class _Row:
    kind: str  # "file" | "symlink"
    target: str | None
    size: int
    digest: str | None
    since: int


@dataclass(frozen=True)
class _Found:
    """Where a walk ended: a file or a link (``row``: its entry), a folder, or nowhere."""

    kind: Literal["file", "link", "folder", "missing", "broken"]
    path: str = ""
    row: _Row | None = None


class _Walk:
    """Finds paths in one version of one dataset, with each entry and folder looked up at
    most once (a listing's links often lead to the same places)."""

    def __init__(self, session: Session, dataset_id: int) -> None:
        self.session = session
        self.dataset_id = dataset_id
        self._entries: dict[str, _Row | None] = {}
        self._folders: dict[str, bool] = {"": True}

    def entry(self, path: str) -> _Row | None:
        """The live file or symlink at ``path`` (folder markers are not there)."""
        if path not in self._entries:
            found = None
            if path.rpartition("/")[2] != FOLDER_MARKER:
                row = self.session.execute(
                    select(Entry.kind, Entry.target, Entry.size, Entry.digest, Entry.since).where(
                        Entry.dataset_id == self.dataset_id,
                        Entry.space == FILES,
                        Entry.until.is_(None),
                        Entry.path == path,
                    )
                ).first()
                found = None if row is None else _Row(*row)
            self._entries[path] = found
        return self._entries[path]

    def is_folder(self, path: str) -> bool:
        if path not in self._folders:
            inside = select(Entry.id).where(files_under(self.dataset_id, path + "/")).limit(1)
            self._folders[path] = self.session.scalar(inside) is not None
        return self._folders[path]

    def find(self, folder: str, relative: str, *, follow_last: bool) -> _Found:
        """Where ``relative`` leads from ``folder``, following every symlink on the way
        (and the last segment's too if ``follow_last``)."""
        if relative.startswith("/"):
            return _Found("broken")  # absolute: it would leave the extracted tarball
        here = folder.split("/") if folder else []
        pending = deque(relative.split("/"))
        hops = 0
        while pending:
            segment = pending.popleft()
            if segment in ("", "."):
                continue
            if segment == "..":
                if not here:
                    return _Found("broken")  # above the top directory
                here.pop()
                continue
            path = "/".join([*here, segment])
            row = self.entry(path)
            if row is None:
                if not self.is_folder(path):
                    return _Found("missing", path)
                here.append(segment)
            elif row.kind == "symlink" and (pending or follow_last):
                hops += 1
                if hops > MAX_HOPS or not row.target or row.target.startswith("/"):
                    return _Found("broken", path, row)
                pending.extendleft(reversed(row.target.split("/")))
            elif pending:
                return _Found("missing", path)  # a file (or link) taken for a folder
            else:
                return _Found("link" if row.kind == "symlink" else "file", path, row)
        return _Found("folder", "/".join(here))


def _normalised(path: str) -> str | None:
    """A requested path as ``os.path.abspath`` has it (Pbench Server's reading): no empty
    or ``.`` segments, ``..`` taken lexically; None if it climbs above the top."""
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(segment)
    return "/".join(parts)


@dataclass
class _Listing:
    directories: list[Item] = field(default_factory=list)
    files: list[Item] = field(default_factory=list)


class PbenchContents:
    def __init__(
        self, db: Database, pbench: PbenchDatasets, *, max_path_length: int = 4096
    ) -> None:
        self.db = db
        self.pbench = pbench
        self.max_path_length = max_path_length

    # --- contents --------------------------------------------------------------------------

    def listing(self, actor: Principal, resource_id: str, path: str) -> DirectoryListing | Item:
        """What ``path`` ("" for the top directory) is: a directory's listing, or the file
        or symlink it names (a symlink as itself, with where it leads)."""
        with self.db.read() as session:  # the access check and the walk: one snapshot
            run = self.pbench.find(actor, resource_id, "READ")
            wanted = self._wanted(run, path)
            walk = _Walk(session, run.dataset_id)
            found = walk.find("", wanted, follow_last=False)
            name = wanted.rpartition("/")[2]
            if found.kind == "folder":
                return self._directory(walk, name, wanted, found.path)
            if found.kind == "file":
                assert found.row is not None
                return Item(name, wanted, "FILE", size=found.row.size)
            if found.kind == "link":
                assert found.row is not None and found.row.target is not None
                folder = found.path.rpartition("/")[0]
                return self._link(walk, name, wanted, folder, found.row.target, alone=True)
        raise _missing(run, path)

    def _directory(self, walk: _Walk, name: str, path: str, real: str) -> DirectoryListing:
        """The directory at ``real``, asked for as ``path`` (through links, if they
        differ): its children are shown where they were asked for, as Pbench did."""
        listing = _Listing()
        shown = f"{path}/" if path else ""
        prefix = f"{real}/" if real else ""
        scan = scan_folder(walk.session, walk.dataset_id, prefix, most=LISTING_BATCH)
        for child in scan:
            where = shown + child.name
            if not isinstance(child, Member):
                listing.directories.append(Item(child.name, where, "DIRECTORY"))
            elif child.kind == "symlink" and child.target is not None:
                item = self._link(walk, child.name, where, real, child.target, alone=False)
                add_to = listing.directories if item.link_type == "DIRECTORY" else listing.files
                add_to.append(item)
            else:
                listing.files.append(Item(child.name, where, "FILE", size=child.size))
        listing.directories.sort(key=lambda item: item.name)
        listing.files.sort(key=lambda item: item.name)
        return DirectoryListing(name, path, listing.directories, listing.files)

    @staticmethod
    def _link(walk: _Walk, name: str, path: str, folder: str, target: str, *, alone: bool) -> Item:
        """The symlink at ``path`` (in ``folder``), with where its ``target`` leads. Its
        size is the file's it leads to when it is asked for alone (as Pbench Server did)."""
        found = walk.find(folder, target, follow_last=True)
        if found.kind == "folder":
            return Item(name, path, "SYMLINK", link=found.path, link_type="DIRECTORY")
        if found.kind == "file":
            assert found.row is not None
            size = found.row.size if alone else None
            return Item(name, path, "SYMLINK", size=size, link=found.path, link_type="FILE")
        return Item(name, path, "SYMLINK", link=target, link_type="BROKEN")

    # --- inventory -------------------------------------------------------------------------

    def open_file(
        self, actor: Principal, resource_id: str, path: str
    ) -> MemberFile | MemberDirectory:
        """The regular file ``path`` names (through symlinks), or that it is a directory.
        A path that leads nowhere, or to a link that does, is ``Invalid`` (Pbench's 400);
        one that is not there at all is ``NotFound``."""
        with self.db.read() as session:
            run = self.pbench.find(actor, resource_id, "READ")
            wanted = self._wanted(run, path)
            walk = _Walk(session, run.dataset_id)
            found = walk.find("", wanted, follow_last=False)
            if found.kind == "link":
                assert found.row is not None and found.row.target is not None
                folder = found.path.rpartition("/")[0]
                found = walk.find(folder, found.row.target, follow_last=True)
                if found.kind not in ("file", "folder"):
                    raise Invalid(NOT_A_FILE)
            if found.kind == "folder":
                return MemberDirectory(wanted)
            if found.kind == "file":
                assert found.row is not None
                return self._member(session, run, wanted.rpartition("/")[2], found.row)
        raise _missing(run, path)

    def open_tarball(self, actor: Principal, resource_id: str) -> MemberFile:
        """The tarball itself, as it was uploaded."""
        run = self.pbench.find(actor, resource_id, "READ")
        blob = run.tarball
        return MemberFile(run.name + SUFFIX, blob, f'"{blob.digest}"', run.uploaded)

    @staticmethod
    def _member(session: Session, run: PbenchRun, name: str, row: _Row) -> MemberFile:
        assert row.digest is not None  # every file entry names its blob
        inline = select(Blob.data).where(Blob.digest == row.digest).scalar_subquery()
        created, data = session.execute(
            select(Version.created, inline).where(
                Version.dataset_id == run.dataset_id, Version.number == row.since
            )
        ).one()
        blob = BlobRef(row.digest, row.size, data)
        return MemberFile(name, blob, f'"{row.digest}"', created)

    # --- helpers ---------------------------------------------------------------------------

    def _wanted(self, run: PbenchRun, path: str) -> str:
        # No entry is that long or holds a NUL (which PostgreSQL would refuse to compare).
        if len(path) > self.max_path_length or "\x00" in path:
            raise _missing(run, path)
        wanted = _normalised(path)
        if wanted is None:
            raise _missing(run, path)
        return wanted


def _missing(run: PbenchRun, path: str) -> NotFound:
    """Pbench Server's words for a path its tarball does not hold."""
    return NotFound(f"Unable to extract {path} from {run.name}{SUFFIX}")
