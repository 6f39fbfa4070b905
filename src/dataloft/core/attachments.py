"""Attachments: blobs that records link to, read through the records that link them.

A record version may hold on to blobs besides its own value (``PutRecord.attachments``);
so may a file version, for blobs its metadata names (``PutFile.attachments``: UFDL's
segmentation layers). ``entry_attachments`` keeps one row per (entry row, blob). A blob is
served as an attachment only to someone who may read a dataset with a retained entry
version linking it, so naming a digest never reveals bytes that only private datasets
hold. Listings by record (``linkers``, ``of_version``) show records' links only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, select

from dataloft.core.access import Action, Principal
from dataloft.core.blobs import BlobRef
from dataloft.core.changes import RECORDS
from dataloft.core.commits import live_at
from dataloft.core.datasets import DATASETS, DatasetService, visible_filter
from dataloft.core.errors import NotFound
from dataloft.core.names import validate_digest
from dataloft.core.tags import VersionRef, version_at
from dataloft.db import Database
from dataloft.db.models import Blob, Entry, EntryAttachment, User, Version

PAGE = 1000
MAX_LINKERS = 10_000


@dataclass(frozen=True)
class Attachment:
    blob: BlobRef
    created: datetime  # when the server first received these bytes


@dataclass(frozen=True)
class Linker:
    """A record whose value at its dataset's head links to an attachment."""

    owner: str
    name: str
    record_id: str
    since: datetime  # when that record took the value that links it


def _linked_by_readable(principal: Principal, digest: str) -> ColumnElement[bool]:
    """Some entry version, in a live dataset the principal may read, links ``digest``."""
    return exists(
        select(EntryAttachment.entry_id)
        .join(Entry, Entry.id == EntryAttachment.entry_id)
        .join(DATASETS, DATASETS.c.id == Entry.dataset_id)
        .where(
            EntryAttachment.digest == digest,
            DATASETS.c.deleted_at.is_(None),
            visible_filter(principal),
        )
    )


class AttachmentService:
    def __init__(self, db: Database, datasets: DatasetService) -> None:
        self.db = db
        self.datasets = datasets

    def get(self, actor: Principal, digest: str) -> Attachment:
        """The attachment ``digest``, if an entry the caller may read links to it."""
        validate_digest(digest)
        with self.db.read() as session:
            row = session.execute(
                select(Blob.size, Blob.data, Blob.created).where(
                    Blob.digest == digest, _linked_by_readable(actor, digest)
                )
            ).first()
        if row is None:
            raise NotFound(f"no attachment {digest}")
        size, inline, created = row
        return Attachment(BlobRef(digest, size, inline), created)

    def linkers(self, actor: Principal, digest: str) -> list[Linker]:
        """The records that link ``digest`` at their dataset's head, in datasets the caller
        may read, by owner, dataset and record id (at most ``MAX_LINKERS``)."""
        validate_digest(digest)
        with self.db.read() as session:
            rows = session.execute(
                select(User.username, DATASETS.c.name, Entry.path, Version.created)
                .select_from(EntryAttachment)
                .join(Entry, Entry.id == EntryAttachment.entry_id)
                .join(DATASETS, DATASETS.c.id == Entry.dataset_id)
                .join(User, User.id == DATASETS.c.owner_id)
                .join(
                    Version,
                    and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since),
                )
                .where(
                    EntryAttachment.digest == digest,
                    Entry.space == RECORDS,
                    Entry.until.is_(None),
                    DATASETS.c.deleted_at.is_(None),
                    visible_filter(actor),
                )
                .order_by(User.username, DATASETS.c.name, Entry.path)
                .limit(MAX_LINKERS)
            ).all()
        return [Linker(*row) for row in rows]

    def of_version(
        self, actor: Principal, owner: str, name: str, version: VersionRef | None = None
    ) -> tuple[int, Iterator[BlobRef]]:
        """Every blob the records of one version link to, each once, in digest order."""
        located = self.datasets.locate(actor, owner, name, Action.READ)
        at = version_at(self.db, located, version)
        return at, self._linked_at(located.row.id, at, located.row.head)

    def _linked_at(self, dataset_id: int, at: int, head: int) -> Iterator[BlobRef]:
        after = ""
        while True:
            linked = (
                select(EntryAttachment.digest)
                .join(Entry, Entry.id == EntryAttachment.entry_id)
                .where(
                    Entry.dataset_id == dataset_id,
                    Entry.space == RECORDS,
                    live_at(at, head),
                    EntryAttachment.digest > after,
                )
                .distinct()
                .order_by(EntryAttachment.digest)
                .limit(PAGE)
                .subquery()
            )
            with self.db.read() as session:
                rows = session.execute(
                    select(Blob.digest, Blob.size, Blob.data)
                    .join(linked, linked.c.digest == Blob.digest)
                    .order_by(Blob.digest)
                ).all()
            for digest, size, inline in rows:
                yield BlobRef(digest, size, inline)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]
