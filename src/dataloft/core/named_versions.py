"""Datasets named by a name and a version within their project: UFDL's datasets, as
named operations on core datasets.

Each is an ordinary dataset (every write a commit, readable through ``/loft/v1``), owned
by its creator and placed in its project; ``named_versions`` adds its name, its version
number and what it was copied from. Its core name is derived from them: ``<name>-v<version>``,
with the project's number added when its owner already has a live dataset of that name.

The operations here know UFDL's rules for files (names normalised, three kinds of clash),
metadata (a string per file, kept in the file entry's metadata under ``ufdl``), copies
(a new version is the highest live one + 1) and merges (clashing names get ``-0001``...).
What UFDL's domains keep is kept beside them: of each file, in its entry's metadata (its
*annotations*: ``categories``, ``file_type``, ``layers``, ...); of the dataset itself
(segmentation's labels, ...), in the dataset's metadata under ``ufdl`` (its *notes*).
Who may call them is the caller's to decide (``api/ufdl/datasets.py`` applies UFDL's
matrix); each write still goes through the core's commit and its access check.
"""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from dataloft.core.access import Principal
from dataloft.core.archives import Archive, ArchiveService
from dataloft.core.blobs import BlobService, StoredBlob
from dataloft.core.changes import FILES, Change, DeleteFile, Guard, PutFile
from dataloft.core.commits import CommitService
from dataloft.core.datasets import (
    DatasetService,
    Located,
    check_description,
    check_tags,
    merge_patch,
    visible_filter,
)
from dataloft.core.directory import by_number
from dataloft.core.errors import Conflict, Invalid, NotFound, PreconditionFailed
from dataloft.core.events import EventLog
from dataloft.core.names import has_control, validate_dataset_name
from dataloft.core.pagination import is_row_id
from dataloft.core.query_filter import Field, QuerySpec, filtered
from dataloft.core.results import NamedDatasetView
from dataloft.core.zip_reading import ZipLimits, ZipReader
from dataloft.db import Database
from dataloft.db.models import (
    Dataset,
    Domain,
    Entry,
    Licence,
    NamedVersion,
    Project,
    Team,
    User,
)

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

_TEAM = aliased(Team, name="owning_team")
_CREATOR = aliased(User, name="creator")
_PROJECT = aliased(Project, name="dataset_project")
_LICENCE = aliased(Licence, name="dataset_licence")
_DOMAIN = aliased(Domain, name="dataset_domain")

_WHERE = (
    select(
        User.username,
        Dataset.name,
        Project.team_id,
        Dataset.visibility,
        Domain.code,
        Dataset.uid,
        Dataset.deleted_at,
    )
    .select_from(NamedVersion)
    .join(Dataset, Dataset.id == NamedVersion.dataset_id)
    .join(User, User.id == Dataset.owner_id)
    .outerjoin(Project, Project.id == Dataset.project_id)
    .outerjoin(Domain, Domain.id == NamedVersion.domain_id)
    .where(NamedVersion.dataset_id == bindparam("dataset_id"))
)

DATASET_FIELDS = {
    "pk": Field.integer(Dataset.id),
    "id": Field.integer(Dataset.id),
    "name": Field.text(NamedVersion.name),
    "version": Field.integer(NamedVersion.version),
    "previous_version": Field.integer(NamedVersion.previous_version),
    "description": Field.text(Dataset.description),
    "is_public": Field.boolean(Dataset.visibility == "public"),
    "project": Field.integer(Dataset.project_id, nullable=True),
    "project.pk": Field.integer(Dataset.project_id, nullable=True),
    "project.name": Field.text(_PROJECT.name, nullable=True),
    "project.team": Field.integer(_PROJECT.team_id, nullable=True),
    "project.team.pk": Field.integer(_PROJECT.team_id, nullable=True),
    "project.team.name": Field.text(_TEAM.name, nullable=True),
    "project.team.deletion_time": Field.moment(_TEAM.deleted_at, nullable=True),
    "team": Field.integer(_PROJECT.team_id, nullable=True),
    "team.name": Field.text(_TEAM.name, nullable=True),
    "licence": Field.integer(Dataset.licence_id, nullable=True),
    "licence.pk": Field.integer(Dataset.licence_id, nullable=True),
    "licence.name": Field.text(_LICENCE.name, nullable=True),
    "domain": Field.text(_DOMAIN.description, nullable=True),
    "domain.name": Field.text(_DOMAIN.code, nullable=True),
    "creator": Field.integer(Dataset.owner_id),
    "creator.pk": Field.integer(Dataset.owner_id),
    "creator.username": Field.text(_CREATOR.username),
    "creation_time": Field.moment(Dataset.created),
    "deletion_time": Field.moment(Dataset.deleted_at, nullable=True),
}


@dataclass(frozen=True)
class Where:
    """Where a named dataset is, for the caller's rules and the core's address."""

    owner: str
    name: str  # the core name
    team_id: int | None
    public: bool
    domain: str | None  # the domain's code
    uid: str
    deleted: bool

    def address(self) -> tuple[str, str]:
        """The core's address of a live dataset. A deleted one's core name may be taken
        since by another dataset of its owner, so nothing is asked of it by address."""
        if self.deleted:
            raise Conflict("the dataset is deleted: reinstate it first")
        return self.owner, self.name


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


class _Names:
    """File names a dataset holds, as far as a batch of new names is concerned: the
    clash rules ask whether a name, or any name under a folder, is taken."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.added = set(names)

    def holds(self, name: str) -> bool:
        return name in self.added

    def holds_under(self, folder: str) -> bool:
        return any(other.startswith(folder) for other in self.added)

    def add(self, name: str) -> None:
        self.added.add(name)


class _AtHead(_Names):
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

    def holds_under(self, folder: str) -> bool:
        if super().holds_under(folder):
            return True
        return self.session.scalar(self._live().where(*_under(folder)).limit(1)) is not None

    def clash(self, name: str) -> str | None:
        """``_clash`` in one query: the name itself, any name under it, and each of its
        parents, as indexed lookups of one statement."""
        parents = ["/".join(name.split("/")[:end]) for end in range(1, name.count("/") + 1)]
        found = set(
            self.session.scalars(
                self._live()
                .where(or_(Entry.path.in_([name, *parents]), and_(*_under(name + "/"))))
                .limit(len(parents) + 2)
            )
        )
        return _clash(name, _Names(found | self.added))


def _under(folder: str) -> list[ColumnElement[bool]]:
    """Paths under ``folder`` (which ends in "/"): from "a/b/" up to "a/b0" ('0' follows
    '/'), a range the path index serves."""
    return [Entry.path >= folder, Entry.path < folder[:-1] + chr(ord("/") + 1)]


def _clash(name: str, names: _Names) -> str | None:
    """Why ``name`` cannot be added beside ``names``, or None."""
    if names.holds(name):
        return "Filename already in use"
    if names.holds_under(name + "/"):
        return "Filename is already a directory prefix"
    parts = name.split("/")
    for end in range(1, len(parts)):
        if names.holds("/".join(parts[:end])):
            return "Directory prefix is already a filename"
    return None


def _generated(folder: str, names: _Names) -> str:
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


def tags_of(text: str) -> list[str]:
    """UFDL's tags are one string: dataloft's tag list written with commas."""
    return check_tags([tag.strip() for tag in text.split(",") if tag.strip()])


def linked(annotations: Mapping[str, Any]) -> tuple[str, ...]:
    """The blobs a file's annotations name (its segmentation layers), in digest order."""
    layers = annotations.get(LAYERS)
    if not isinstance(layers, dict):
        return ()
    return tuple(sorted({digest for digest in layers.values() if isinstance(digest, str)}))


def _put(name: str, digest: str, annotations: Mapping[str, Any]) -> PutFile:
    """A file written back with these annotations, holding on to the blobs they name."""
    return PutFile(name, digest=digest, metadata=dict(annotations), attachments=linked(annotations))


def _cleared(annotations: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {METADATA_KEY: ""}
    if FILE_TYPE in annotations:
        kept[FILE_TYPE] = annotations[FILE_TYPE]
    return kept


def metadata_of(annotations: Mapping[str, Any]) -> str:
    """A file's UFDL metadata string, from its annotations (its entry's metadata)."""
    value = annotations.get(METADATA_KEY, "")
    return value if isinstance(value, str) else ""


class NamedVersions:
    def __init__(
        self,
        db: Database,
        events: EventLog,
        datasets: DatasetService,
        commits: CommitService,
        archives: ArchiveService,
        blobs: BlobService,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.events = events
        self.datasets = datasets
        self.commits = commits
        self.archives = archives
        self.blobs = blobs
        self.clock = clock

    # --- finding ---------------------------------------------------------------------------

    def where(self, dataset_id: int) -> Where:
        with self.db.read() as session:
            return self._where(session, dataset_id)

    def view(self, dataset_id: int) -> NamedDatasetView:
        with self.db.read() as session:
            return self._view(session, *self._found(session, dataset_id))

    def listed(
        self, actor: Principal, spec: QuerySpec, domain: str | None
    ) -> list[NamedDatasetView]:
        """The datasets the actor may read that the filter matches (of one domain, when
        a domain's prefix asks), soft-deleted ones only when it includes inactive rows."""
        query = (
            select(Dataset, NamedVersion, _DOMAIN.description)
            .join(NamedVersion, NamedVersion.dataset_id == Dataset.id)
            .join(_CREATOR, _CREATOR.id == Dataset.owner_id)
            .outerjoin(_PROJECT, _PROJECT.id == Dataset.project_id)
            .outerjoin(_TEAM, _TEAM.id == _PROJECT.team_id)
            .outerjoin(_LICENCE, _LICENCE.id == Dataset.licence_id)
            .outerjoin(_DOMAIN, _DOMAIN.id == NamedVersion.domain_id)
            .where(visible_filter(actor))
        )
        if domain is not None:
            query = query.where(_DOMAIN.code == domain)
        query = filtered(
            query, spec, DATASET_FIELDS, inactive=Dataset.deleted_at.is_not(None), order=Dataset.id
        )
        with self.db.read() as session:
            rows = session.execute(query).all()
            files = _head_files(session, [dataset.id for dataset, _, _ in rows])
            return [
                _view_of(dataset, named, domain, files.get(dataset.id, []))
                for dataset, named, domain in rows
            ]

    # --- the dataset itself ----------------------------------------------------------------

    def create(
        self,
        actor: Principal,
        *,
        name: str,
        project_id: int,
        licence_id: int,
        tags: str,
        description: str = "",
        public: bool = False,
        domain: str | None = None,
        version: int = 1,
        previous_version: int = -1,
    ) -> NamedDatasetView:
        """A new, empty dataset (the caller's rules allowed it in this project)."""
        assert actor.user_id is not None and actor.username is not None
        with self.db.write() as session:
            made = self._insert(
                session,
                actor,
                name=_checked_name(name),
                project_id=project_id,
                licence_id=licence_id,
                tags=tags_of(tags),
                description=check_description(description),
                public=public,
                domain=domain,
                version=version,
                previous_version=previous_version,
            )
            return self._view(session, *self._found(session, made))

    def update(
        self, actor: Principal, dataset_id: int, changes: Mapping[str, Any]
    ) -> NamedDatasetView:
        """Change ``name``, ``project`` (a project id), ``licence`` (an id), ``tags`` (a
        string), ``description``, ``public``; all in one transaction."""
        with self.db.write() as session:
            located, named = self._found(session, dataset_id, lock=True)
            values: dict[str, Any] = {}
            if "description" in changes:
                values["description"] = check_description(changes["description"])
            if "tags" in changes:
                values["tags"] = tags_of(changes["tags"])
            if "public" in changes:
                values["visibility"] = "public" if changes["public"] else "private"
            if "licence" in changes:
                values["licence_id"] = by_number(session, Licence, changes["licence"], "licence").id
            project_id = located.row.project_id
            if "project" in changes:
                project_id = _live_project(session, changes["project"]).id
                values["project_id"] = project_id
            name = _checked_name(changes["name"]) if "name" in changes else named.name
            if (name, project_id) != (named.name, located.row.project_id):
                if located.row.deleted_at is None:
                    self._ensure_free(session, name, named.version, project_id, dataset_id)
                named.name = name
                values["name"] = self._core_name(
                    session, located.row.owner_id, name, named.version, project_id, dataset_id
                )
            if values:
                values["updated"] = self.clock()
                self.datasets.save(session, located, **values)
                located = self.datasets.reload(session, dataset_id)
                self.datasets._event(
                    session, actor, "dataset.update", located, {"changed": sorted(changes)}
                )
            session.flush()
            return self._view(session, located, named)

    def retire(self, actor: Principal, dataset_id: int) -> None:
        """Soft delete (again: nothing changes)."""
        with self.db.write() as session:
            located, _ = self._found(session, dataset_id, lock=True)
            if located.row.deleted_at is None:
                self.datasets.retire_in(session, actor, dataset_id, self.clock())

    def reinstate(self, actor: Principal, dataset_id: int) -> NamedDatasetView:
        with self.db.write() as session:
            located, named = self._found(session, dataset_id, lock=True)
            if located.row.deleted_at is not None:
                self._ensure_free(
                    session, named.name, named.version, located.row.project_id, dataset_id
                )
                core = self._core_name(
                    session,
                    located.row.owner_id,
                    named.name,
                    named.version,
                    located.row.project_id,
                    dataset_id,
                )
                self.datasets.save(
                    session, located, deleted_at=None, name=core, updated=self.clock()
                )
                located = self.datasets.reload(session, dataset_id)
                self.datasets._event(session, actor, "dataset.restore", located, {})
            return self._view(session, located, named)

    def purge(self, actor: Principal, dataset_id: int) -> NamedDatasetView:
        """Delete for good; the dataset as it was."""
        found = self.view(dataset_id)
        where = self.where(dataset_id)
        self.datasets.purge(actor, where.owner, where.name, where.uid)
        return found

    # --- files -----------------------------------------------------------------------------

    def files(self, dataset_id: int) -> dict[str, tuple[str, dict[str, Any]]]:
        """name -> (sha256, annotations) at the head, in the order the files were added.
        A file's annotations are its entry's metadata: UFDL's metadata string under
        ``ufdl``, and what a domain keeps of the file (``categories``, ...)."""
        with self.db.read() as session:
            self._found(session, dataset_id)
            rows = _head_files(session, [dataset_id]).get(dataset_id, [])
            return {path: (digest, meta) for path, digest, meta in rows}

    def add_file(
        self, actor: Principal, dataset_id: int, filename: str, blob: StoredBlob
    ) -> tuple[str, str]:
        """Add one file; (its name, its sha256)."""
        [added] = self.add_files(actor, dataset_id, [(filename, blob)])
        return added

    def add_files(
        self, actor: Principal, dataset_id: int, named: Sequence[tuple[str, StoredBlob]]
    ) -> list[tuple[str, str]]:
        """Add files in one commit, all or none: a name that clashes refuses them all."""
        changes: list[Change] = []
        added: list[tuple[str, str]] = []
        with self.db.read() as session:
            where = self._where(session, dataset_id)
            names = _AtHead(session, dataset_id)
            for filename, blob in named:
                name = normalise_filename(filename)
                if name.endswith("/"):
                    name = _generated(name, names)
                problem = names.clash(name)
                if problem is not None:
                    raise Invalid(f"Bad name {filename!r}: {problem}")
                names.add(name)
                # The guard keeps a file added meanwhile by another request from being
                # replaced: UFDL never replaces a file.
                changes.append(
                    PutFile(name, blob=blob, metadata={METADATA_KEY: ""}, guard=NEW_FILE)
                )
                added.append((name, blob.digest))
        try:
            self.commits.commit(actor, *where.address(), changes, message="add files")
        except PreconditionFailed:
            raise Invalid("Bad name: Filename already in use") from None
        return added

    def add_archive(
        self, actor: Principal, dataset_id: int, archive: IO[bytes], limits: ZipLimits
    ) -> list[tuple[str, str]]:
        """Add every file of a zip archive (a seekable file), in one commit: all or none.
        The archive is checked whole before a byte is stored (``core/zip_reading.py``);
        folder entries add nothing (UFDL made each an empty file ``folder/N``). Blobs
        stored before a later member was refused stay unreferenced until garbage
        collection."""
        stored: list[tuple[str, StoredBlob]] = []
        with ZipReader(archive, limits) as reader:
            for member in reader.members():
                if member.is_directory:
                    continue
                upload = self.blobs.start_upload()
                try:
                    for chunk in reader.read(member):
                        upload.write(chunk)
                    stored.append((member.name, upload.finish()))
                except BaseException:
                    upload.abort()
                    raise
        if not stored:
            raise Invalid("the archive holds no files")
        return self.add_files(actor, dataset_id, stored)

    def delete_file(self, actor: Principal, dataset_id: int, filename: str) -> tuple[str, str]:
        where, name, (digest, _) = self._file(dataset_id, filename)
        self.commits.commit(actor, *where.address(), [DeleteFile(name)], message="delete file")
        return name, digest

    def file_name(self, dataset_id: int, filename: str) -> str:
        """The file's name as stored (``Invalid`` in UFDL's words if there is none)."""
        return self._file(dataset_id, filename)[1]

    def metadata(self, dataset_id: int, filename: str) -> str:
        return metadata_of(self._file(dataset_id, filename)[2][1])

    def set_metadata(self, actor: Principal, dataset_id: int, filename: str, metadata: str) -> str:
        if len(metadata) > MAX_METADATA or has_control(
            metadata.replace("\n", "").replace("\t", "")
        ):
            raise Invalid(f"metadata must be printable text of at most {MAX_METADATA} characters")
        where, name, (digest, annotations) = self._file(dataset_id, filename)
        change = _put(name, digest, {**annotations, METADATA_KEY: metadata})
        self.commits.commit(actor, *where.address(), [change], message="set metadata")
        return metadata

    def notes(self, dataset_id: int) -> dict[str, Any]:
        """What a domain keeps of the dataset itself (segmentation's labels, say): the
        ``ufdl`` object of the dataset's metadata."""
        with self.db.read() as session:
            located, _ = self._found(session, dataset_id)
        value = located.row.metadata.get(METADATA_KEY)
        return dict(value) if isinstance(value, dict) else {}

    def annotate(
        self,
        actor: Principal,
        dataset_id: int,
        changes: Mapping[str, Mapping[str, Any]],
        *,
        notes: Mapping[str, Any] | None = None,
        uploads: Sequence[StoredBlob] = (),
    ) -> None:
        """Change annotations of files (filename -> a JSON merge patch of its annotations:
        the keys to set, objects merged key by key, None removes), and with ``notes`` the
        dataset's notes (a patch too), in one commit. ``uploads`` are blobs received for
        it that the annotations name (segmentation layers): the commit registers them.
        A domain's rules decide what the values are."""
        where = self.where(dataset_id)
        files = self.files(dataset_id)
        puts: list[Change] = []
        for filename, patch in changes.items():
            name = stored_name(files, filename)
            digest, annotations = files[name]
            merged = merge_patch(annotations, patch)
            if merged != annotations:
                puts.append(_put(name, digest, merged))
        dataset_changes = None
        if notes is not None:
            current = self.notes(dataset_id)
            if merge_patch(current, notes) != current:
                dataset_changes = {"metadata": {METADATA_KEY: dict(notes)}}
        if puts or dataset_changes:
            self.commits.commit(
                actor,
                *where.address(),
                puts,
                message="annotate",
                uploads=uploads,
                dataset_changes=dataset_changes,
            )

    def clear(self, actor: Principal, dataset_id: int) -> NamedDatasetView:
        """Every file's metadata back to "" and its annotations gone (the files stay, and
        so do their object-detection file types and the dataset's notes, as in UFDL)."""
        where = self.where(dataset_id)
        changes: list[Change] = [
            _put(name, digest, _cleared(annotations))
            for name, (digest, annotations) in self.files(dataset_id).items()
            if annotations and annotations != _cleared(annotations)
        ]
        if changes:
            self.commits.commit(actor, *where.address(), changes, message="clear")
        return self.view(dataset_id)

    def archive(self, actor: Principal, dataset_id: int, fmt: str) -> Archive:
        view = self.view(dataset_id)
        where = self.where(dataset_id)
        filename = f"{view.name}.v{view.version}.{fmt}"
        return self.archives.files_only(actor, *where.address(), fmt, filename)

    # --- copies and merges -----------------------------------------------------------------

    def copy(
        self,
        actor: Principal,
        dataset_id: int,
        new_name: str | None,
        only_files: Iterable[str] | None,
    ) -> NamedDatasetView:
        """A copy in the same project, owned by the actor: a new version of the same name
        (the highest live version + 1), or version 1 of ``new_name``. With its files
        (those of ``only_files`` that exist, if given), their metadata and annotations,
        and the dataset's notes."""
        source = self.view(dataset_id)
        if source.project_id is None:
            raise Invalid("only datasets in a project can be copied")
        if new_name is not None:
            if new_name == source.name:
                raise Invalid(f"Bad name {new_name!r}: New dataset name is already taken")
            name, version, previous = _checked_name(new_name), 1, -1
        else:
            name, previous = source.name, source.version
            with self.db.read() as session:
                highest = session.scalar(
                    select(func.max(NamedVersion.version))
                    .join(Dataset, Dataset.id == NamedVersion.dataset_id)
                    .where(
                        NamedVersion.name == source.name,
                        Dataset.project_id == source.project_id,
                        Dataset.deleted_at.is_(None),
                    )
                )
            version = (highest or source.version) + 1
        wanted = set(only_files) if only_files is not None else None
        notes = self.notes(dataset_id)
        files = [f for f in source.files if wanted is None or f[0] in wanted]
        with self.db.write() as session:
            if new_name is not None and self._taken(session, name, 1, source.project_id, None):
                raise Invalid(f"Bad name {new_name!r}: New dataset name is already taken")
            made = self._insert(
                session,
                actor,
                name=name,
                project_id=source.project_id,
                licence_id=source.licence_id,
                tags=source.tags,
                description=source.description,
                public=source.public,
                domain=self._domain_code(session, dataset_id),
                version=version,
                previous_version=previous,
                notes=notes,
            )
            where = self._where(session, made)
        if files:
            changes: list[Change] = [
                _put(path, digest, annotations) for path, digest, annotations in files
            ]
            self.commits.commit(actor, *where.address(), changes, message="copy")
        return self.view(made)

    def merge(
        self, actor: Principal, target_id: int, source_id: int, *, delete: bool, hard: bool
    ) -> NamedDatasetView:
        """The source's files into the target: a name the target lacks is added with its
        metadata, the same name with the same bytes is left alone, the same name with other
        bytes is added as ``base-0001.ext``. Then, with ``delete``, the source is deleted
        (for good with ``hard``). Merging a dataset into itself changes nothing. Datasets
        of two domains do not merge, nor segmentation datasets with different labels (a
        layer is valid only for a label of its dataset)."""
        if target_id == source_id:
            return self.view(target_id)
        target, source = self.where(target_id), self.where(source_id)
        if target.domain != source.domain:
            raise Unmergeable(
                f"Expected to merge with a dataset of domain {target.domain or 'none'} but "
                f"received one of domain {source.domain or 'none'}"
            )
        if target.domain == SEGMENTATION and (
            (self.notes(target_id).get(LABELS) or []) != (self.notes(source_id).get(LABELS) or [])
        ):
            raise Unmergeable("Source data-set has different labels to target")
        files = self.files(target_id)
        names = _Names(files)
        changes: list[Change] = []

        def taken(name: str) -> bool:
            return _clash(name, names) is not None

        for name, (digest, meta) in self.files(source_id).items():
            if name in files and files[name][0] == digest:
                continue
            placed = merged_name(name, taken) if taken(name) else name
            names.add(placed)
            changes.append(_put(placed, digest, meta))
        if changes:
            self.commits.commit(actor, *target.address(), changes, message="merge")
        if delete:
            if hard:
                self.datasets.purge(actor, source.owner, source.name, source.uid)
            else:
                self.retire(actor, source_id)
        return self.view(target_id)

    # --- helpers ---------------------------------------------------------------------------

    def _insert(
        self,
        session: Session,
        actor: Principal,
        *,
        name: str,
        project_id: int,
        licence_id: int | None,
        tags: list[str],
        description: str,
        public: bool,
        domain: str | None,
        version: int,
        previous_version: int,
        notes: Mapping[str, Any] | None = None,
    ) -> int:
        assert actor.user_id is not None and actor.username is not None
        _live_project(session, project_id)
        if licence_id is not None:
            by_number(session, Licence, licence_id, "licence")
        self._ensure_free(session, name, version, project_id, None)
        domain_row = session.scalar(select(Domain).where(Domain.code == domain)) if domain else None
        row = Dataset(
            uid=secrets.token_hex(16),
            owner_id=actor.user_id,
            name=self._core_name(session, actor.user_id, name, version, project_id, None),
            description=description,
            tags=tags,
            visibility="public" if public else "private",
            meta={METADATA_KEY: dict(notes)} if notes else {},
            licence_id=licence_id,
            project_id=project_id,
            head=0,
        )
        located = self.datasets.insert(session, actor, row, actor.username)
        session.add(
            NamedVersion(
                dataset_id=located.row.id,
                name=name,
                version=version,
                previous_version=previous_version,
                domain_id=domain_row.id if domain_row else None,
            )
        )
        session.flush()
        return located.row.id

    def _found(
        self, session: Session, dataset_id: int, *, lock: bool = False
    ) -> tuple[Located, NamedVersion]:
        named = (
            session.get(NamedVersion, dataset_id, with_for_update=lock)
            if is_row_id(dataset_id)
            else None
        )
        if named is None:
            raise NotFound("No Dataset matches the given query.")
        return self.datasets.reload(session, dataset_id), named

    @staticmethod
    def _where(session: Session, dataset_id: int) -> Where:
        """One query: every request by number starts here (an upload of many small files
        pays for it once a file)."""
        row = (
            session.execute(_WHERE, {"dataset_id": dataset_id}).first()
            if is_row_id(dataset_id)
            else None
        )
        if row is None:
            raise NotFound("No Dataset matches the given query.")
        owner, name, team_id, visibility, domain, uid, deleted_at = row
        return Where(
            owner, name, team_id, visibility == "public", domain, uid, deleted_at is not None
        )

    @staticmethod
    def _domain_code(session: Session, dataset_id: int) -> str | None:
        return session.scalar(
            select(Domain.code)
            .join(NamedVersion, NamedVersion.domain_id == Domain.id)
            .where(NamedVersion.dataset_id == dataset_id)
        )

    @staticmethod
    def _view(session: Session, located: Located, named: NamedVersion) -> NamedDatasetView:
        dataset = session.get(Dataset, located.row.id, populate_existing=True)
        assert dataset is not None
        domain = session.get(Domain, named.domain_id) if named.domain_id else None
        files = _head_files(session, [dataset.id]).get(dataset.id, [])
        return _view_of(dataset, named, domain.description if domain else None, files)

    def _file(
        self, dataset_id: int, filename: str
    ) -> tuple[Where, str, tuple[str, dict[str, Any]]]:
        where = self.where(dataset_id)
        files = self.files(dataset_id)
        name = stored_name(files, filename)
        return where, name, files[name]

    @staticmethod
    def _taken(
        session: Session, name: str, version: int, project_id: int | None, other_than: int | None
    ) -> bool:
        query = (
            select(Dataset.id)
            .join(NamedVersion, NamedVersion.dataset_id == Dataset.id)
            .where(
                NamedVersion.name == name,
                NamedVersion.version == version,
                _same_project(project_id),
                Dataset.deleted_at.is_(None),
            )
        )
        if other_than is not None:
            query = query.where(Dataset.id != other_than)
        return session.scalar(query.limit(1)) is not None

    def _ensure_free(
        self,
        session: Session,
        name: str,
        version: int,
        project_id: int | None,
        other_than: int | None,
    ) -> None:
        if self._taken(session, name, version, project_id, other_than):
            raise Conflict(
                f"a live dataset {name!r} version {version} exists in project {project_id}"
            )

    @staticmethod
    def _core_name(
        session: Session,
        owner_id: int,
        name: str,
        version: int,
        project_id: int | None,
        own_id: int | None,
    ) -> str:
        """``<name>-v<version>``, or with the project's number (and a counter) added when
        the owner already has a live dataset of that name."""
        base = f"{name}-v{version}"
        candidates = [base, f"{base}-p{project_id}"]
        candidates += [f"{base}-p{project_id}-{n}" for n in range(2, 1000)]
        for candidate in candidates:
            holder = session.scalar(
                select(Dataset.id).where(
                    Dataset.owner_id == owner_id,
                    Dataset.name == candidate,
                    Dataset.deleted_at.is_(None),
                )
            )
            if holder is None or holder == own_id:
                return validate_dataset_name(candidate)
        raise Conflict(f"too many datasets named {name!r} version {version}")


class Unmergeable(Invalid):
    """Datasets UFDL will not merge (it answers 406): of two domains, or of segmentation
    with different labels."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Cannot perform merge:\n{reason}")


def _same_project(project_id: int | None) -> ColumnElement[bool]:
    return Dataset.project_id.is_(None) if project_id is None else Dataset.project_id == project_id


def _live_project(session: Session, project_id: int) -> Project:
    project = by_number(session, Project, project_id, "project")
    if project.deleted_at is not None:
        raise Invalid(f'project: Invalid pk "{project_id}" - object does not exist.')
    return project


def _checked_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise Invalid(f"name: must be a string of 1 to {MAX_NAME} characters")
    return validate_dataset_name(name)


_FIRST = aliased(Entry, name="first_entry")


FileRow = tuple[str, str, dict[str, Any]]
IN_BATCH = 500  # datasets per query of their files (SQLite's bound parameters are few)


def _head_files(session: Session, dataset_ids: Sequence[int]) -> dict[int, list[FileRow]]:
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


def _view_of(
    dataset: Dataset, named: NamedVersion, domain: str | None, files: list[FileRow]
) -> NamedDatasetView:
    return NamedDatasetView(
        id=dataset.id,
        name=named.name,
        version=named.version,
        previous_version=named.previous_version,
        description=dataset.description,
        project_id=dataset.project_id,
        licence_id=dataset.licence_id,
        public=dataset.visibility == "public",
        domain=domain,
        tags=list(dataset.tags),
        creator=dataset.owner_id,
        created=dataset.created,
        deleted_at=dataset.deleted_at,
        files=files,
    )
