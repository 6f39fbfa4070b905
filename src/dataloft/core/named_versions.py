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

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dataloft.core.access import Principal
from dataloft.core.archives import Archive, ArchiveService
from dataloft.core.blobs import BlobService, StoredBlob
from dataloft.core.changes import Change, DeleteFile, PutFile
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
from dataloft.core.named_files import (
    LABELS,
    MAX_METADATA,
    MAX_NAME,
    METADATA_KEY,
    NEW_FILE,
    SEGMENTATION,
    AtHead,
    Names,
    clash_of,
    cleared,
    generated,
    head_files,
    merged_name,
    metadata_of,
    normalise_filename,
    put_file,
    stored_name,
)
from dataloft.core.named_queries import (
    CREATOR,
    DATASET_FIELDS,
    DOMAIN,
    LICENCE,
    OWNING_TEAM,
    PROJECT,
    WHERE_QUERY,
    Where,
    view_of,
)
from dataloft.core.names import has_control, validate_dataset_name
from dataloft.core.pagination import is_row_id
from dataloft.core.query_filter import QuerySpec, filtered
from dataloft.core.results import NamedDatasetView
from dataloft.core.zip_reading import ZipLimits, ZipReader
from dataloft.db import Database
from dataloft.db.models import (
    Dataset,
    Domain,
    Licence,
    NamedVersion,
    Project,
)


def tags_of(text: str) -> list[str]:
    """UFDL's tags are one string: dataloft's tag list written with commas."""
    return check_tags([tag.strip() for tag in text.split(",") if tag.strip()])


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
            select(Dataset, NamedVersion, DOMAIN.description)
            .join(NamedVersion, NamedVersion.dataset_id == Dataset.id)
            .join(CREATOR, CREATOR.id == Dataset.owner_id)
            .outerjoin(PROJECT, PROJECT.id == Dataset.project_id)
            .outerjoin(OWNING_TEAM, OWNING_TEAM.id == PROJECT.team_id)
            .outerjoin(LICENCE, LICENCE.id == Dataset.licence_id)
            .outerjoin(DOMAIN, DOMAIN.id == NamedVersion.domain_id)
            .where(visible_filter(actor))
        )
        if domain is not None:
            query = query.where(DOMAIN.code == domain)
        query = filtered(
            query, spec, DATASET_FIELDS, inactive=Dataset.deleted_at.is_not(None), order=Dataset.id
        )
        with self.db.read() as session:
            rows = session.execute(query).all()
            files = head_files(session, [dataset.id for dataset, _, _ in rows])
            return [
                view_of(dataset, named, domain, files.get(dataset.id, []))
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
                values["name"] = self._claim(
                    session,
                    located.row.owner_id,
                    name,
                    named.version,
                    project_id,
                    dataset_id,
                    live=located.row.deleted_at is None,
                )
                named.name = name
            if values:
                extra = {"changed": sorted(changes)}
                located = self.datasets.change_in(
                    session, actor, located, "dataset.update", extra, **values
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
                row = located.row
                core = self._claim(
                    session, row.owner_id, named.name, named.version, row.project_id, row.id
                )
                located = self.datasets.change_in(
                    session, actor, located, "dataset.restore", {}, deleted_at=None, name=core
                )
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
            rows = head_files(session, [dataset_id]).get(dataset_id, [])
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
            names = AtHead(session, dataset_id)
            for filename, blob in named:
                name = normalise_filename(filename)
                if name.endswith("/"):
                    name = generated(name, names)
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
        change = put_file(name, digest, {**annotations, METADATA_KEY: metadata})
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
                puts.append(put_file(name, digest, merged))
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
            put_file(name, digest, cleared(annotations))
            for name, (digest, annotations) in self.files(dataset_id).items()
            if annotations and annotations != cleared(annotations)
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
                put_file(path, digest, annotations) for path, digest, annotations in files
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
        names = Names(files)
        changes: list[Change] = []

        def taken(name: str) -> bool:
            return clash_of(name, names) is not None

        for name, (digest, meta) in self.files(source_id).items():
            if name in files and files[name][0] == digest:
                continue
            placed = merged_name(name, taken) if taken(name) else name
            names.add(placed)
            changes.append(put_file(placed, digest, meta))
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
        core_name = self._claim(session, actor.user_id, name, version, project_id, None)
        domain_row = session.scalar(select(Domain).where(Domain.code == domain)) if domain else None
        row = Dataset(
            uid=secrets.token_hex(16),
            owner_id=actor.user_id,
            name=core_name,
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
            session.execute(WHERE_QUERY, {"dataset_id": dataset_id}).first()
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
        files = head_files(session, [dataset.id]).get(dataset.id, [])
        return view_of(dataset, named, domain.description if domain else None, files)

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

    def _claim(
        self,
        session: Session,
        owner_id: int,
        name: str,
        version: int,
        project_id: int | None,
        dataset_id: int | None,
        *,
        live: bool = True,
    ) -> str:
        """The core name of dataset ``dataset_id`` (None: a new one) of ``owner_id`` named
        ``name`` ``version`` in the project, after refusing a clash with another live
        one there (a deleted dataset clashes with nothing until reinstated)."""
        if live:
            self._ensure_free(session, name, version, project_id, dataset_id)
        return self._core_name(session, owner_id, name, version, project_id, dataset_id)

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
