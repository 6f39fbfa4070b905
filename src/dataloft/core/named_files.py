"""A named dataset's files: UFDL's rules for their names (normalised, never climbing out,
three kinds of clash, generated names in a folder, merge's ``-0001``), what each file's
entry keeps besides its bytes (its *annotations*: UFDL's metadata string and what a domain
keeps of it), and the head's files in the order they were added. Used by
``core/named_versions.py``."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from dataloft.core.changes import FILES, Guard, PutFile
from dataloft.core.errors import Invalid
from dataloft.core.names import has_control
from dataloft.db.models import Entry

METADATA_KEY = "ufdl"  # where a file entry's metadata holds UFDL's string; a dataset's, its notes
# Object detection's file type (format, size, length of a video) says what the file is
# rather than annotating it: clear keeps it, as UFDL's does.
FILE_TYPE = "file_type"
# Image segmentation's layers, {label: sha256}: each layer's blob is an attachment of the
# file's entry, so it is kept while a version names it and read by whoever reads the file.
LAYERS = "layers"
LABELS = "labels"  # in a dataset's notes: its domain's labels
SEGMENTATION = "is"  # the domain whose datasets merge only when their labels agree
MAX_NAME = 200
MAX_FILENAME = 200
MAX_METADATA = 60_000
SUFFIX_DIGITS = 4  # merge renames a clash to base-0001.ext
NEW_FILE = Guard(if_none_match=True)


def normalise_filename(name: str) -> str:
    """UFDL's rules for a file's name: normalised like a POSIX path, leading slashes
    dropped, nothing above the top. A trailing ``/`` is kept (it asks for a generated
    name inside that folder)."""
    if not name or has_control(name) or "\\" in name:
        raise Invalid(f"Bad name {name!r}: a file name needs printable characters, no '\\'")
    folder = name.endswith("/")
    normal = posixpath.normpath(name).lstrip("/")
    if normal.startswith("..") or normal in ("", "."):
        raise Invalid(
            f"Bad name {name!r}: Cannot extend beyond top-level directory (start with ..)"
        )
    if len(normal) > MAX_FILENAME:
        raise Invalid(f"Bad name {name!r}: longer than {MAX_FILENAME} characters")
    return normal + "/" if folder else normal


def stored_name(files: Mapping[str, Any], filename: str) -> str:
    """``filename`` as ``files`` (``NamedVersions.files``) holds it; ``Invalid`` in UFDL's
    words when it holds none."""
    name = normalise_filename(filename)
    if name not in files:
        raise Invalid(f"Bad name {filename!r}: Doesn't exist")
    return name


class Names:
    """File names a dataset holds, as far as a batch of new names is concerned: the
    clash rules ask whether a name, or any name under a folder, is taken."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.added = set(names)

    def holds(self, name: str) -> bool:
        return name in self.added

    def holdsunder(self, folder: str) -> bool:
        return any(other.startswith(folder) for other in self.added)

    def add(self, name: str) -> None:
        self.added.add(name)


class AtHead(Names):
    """The names at a dataset's head, asked of the database name by name (indexed
    lookups: adding the 1,000th file must not read the other 999), plus a batch's own."""

    def __init__(self, session: Session, dataset_id: int) -> None:
        super().__init__()
        self.session = session
        self.dataset_id = dataset_id

    def _live(self) -> Any:
        return select(Entry.path).where(
            Entry.dataset_id == self.dataset_id, Entry.space == FILES, Entry.until.is_(None)
        )

    def holds(self, name: str) -> bool:
        if super().holds(name):
            return True
        return self.session.scalar(self._live().where(Entry.path == name).limit(1)) is not None

    def holdsunder(self, folder: str) -> bool:
        if super().holdsunder(folder):
            return True
        return self.session.scalar(self._live().where(*under(folder)).limit(1)) is not None

    def clash(self, name: str) -> str | None:
        """``_clash`` in one query: the name itself, any name under it, and each of its
        parents, as indexed lookups of one statement."""
        parents = ["/".join(name.split("/")[:end]) for end in range(1, name.count("/") + 1)]
        found = set(
            self.session.scalars(
                self._live()
                .where(or_(Entry.path.in_([name, *parents]), and_(*under(name + "/"))))
                .limit(len(parents) + 2)
            )
        )
        return clash_of(name, Names(found | self.added))


def under(folder: str) -> list[ColumnElement[bool]]:
    """Paths under ``folder`` (which ends in "/"): from "a/b/" up to "a/b0" ('0' follows
    '/'), a range the path index serves."""
    return [Entry.path >= folder, Entry.path < folder[:-1] + chr(ord("/") + 1)]


def clash_of(name: str, names: Names) -> str | None:
    """Why ``name`` cannot be added beside ``names``, or None."""
    if names.holds(name):
        return "Filename already in use"
    if names.holdsunder(name + "/"):
        return "Filename is already a directory prefix"
    parts = name.split("/")
    for end in range(1, len(parts)):
        if names.holds("/".join(parts[:end])):
            return "Directory prefix is already a filename"
    return None


def generated(folder: str, names: Names) -> str:
    """UFDL's answer to a name ending in ``/``: the first free ``folder/N``."""
    number = 1
    while names.holds(f"{folder}{number}"):
        number += 1
    return f"{folder}{number}"


def merged_name(name: str, taken: Callable[[str], bool]) -> str:
    """The name a merged file takes when ``name`` holds other bytes in the target:
    ``base-0001.ext``, ``base-0002.ext``, ... (the suffix before the extension)."""
    folder, _, leaf = name.rpartition("/")
    base, dot, extension = leaf.partition(".") if not leaf.startswith(".") else (leaf, "", "")
    number = 1
    while True:
        candidate = f"{base}-{number:0{SUFFIX_DIGITS}d}{dot}{extension}"
        full = f"{folder}/{candidate}" if folder else candidate
        if not taken(full):
            return full
        number += 1


def linked(annotations: Mapping[str, Any]) -> tuple[str, ...]:
    """The blobs a file's annotations name (its segmentation layers), in digest order."""
    layers = annotations.get(LAYERS)
    if not isinstance(layers, dict):
        return ()
    return tuple(sorted({digest for digest in layers.values() if isinstance(digest, str)}))


def put_file(name: str, digest: str, annotations: Mapping[str, Any]) -> PutFile:
    """A file written back with these annotations, holding on to the blobs they name."""
    return PutFile(name, digest=digest, metadata=dict(annotations), attachments=linked(annotations))


def cleared(annotations: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {METADATA_KEY: ""}
    if FILE_TYPE in annotations:
        kept[FILE_TYPE] = annotations[FILE_TYPE]
    return kept


def metadata_of(annotations: Mapping[str, Any]) -> str:
    """A file's UFDL metadata string, from its annotations (its entry's metadata)."""
    value = annotations.get(METADATA_KEY, "")
    return value if isinstance(value, str) else ""


_FIRST = aliased(Entry, name="first_entry")


FileRow = tuple[str, str, dict[str, Any]]
IN_BATCH = 500  # datasets per query of their files (SQLite's bound parameters are few)


def head_files(session: Session, dataset_ids: Sequence[int]) -> dict[int, list[FileRow]]:
    """Each dataset's files at its head in the order they were added: by the version
    that first held each path (a change of metadata makes a new row for the same file),
    then, for files added together, by name. One query per IN_BATCH datasets."""
    first = (
        select(func.min(_FIRST.since))
        .where(
            _FIRST.dataset_id == Entry.dataset_id,
            _FIRST.space == Entry.space,
            _FIRST.path == Entry.path,
        )
        .scalar_subquery()
    )
    found: dict[int, list[FileRow]] = {}
    for start in range(0, len(dataset_ids), IN_BATCH):
        rows = session.execute(
            select(Entry.dataset_id, Entry.path, Entry.digest, Entry.meta)
            .where(
                Entry.dataset_id.in_(dataset_ids[start : start + IN_BATCH]),
                Entry.space == FILES,
                Entry.until.is_(None),
                Entry.kind == "file",
            )
            .order_by(Entry.dataset_id, first, Entry.path)
        )
        for dataset_id, path, digest, meta in rows:
            found.setdefault(dataset_id, []).append((path, digest or "", dict(meta or {})))
    return found
