"""Who may name a blob by its digest: the possession rule.

Storage is deduplicated across the whole server, so a digest names the same bytes for
everybody. The right to *refer* to those bytes is not global: a caller may name a digest
only if

- they sent those bytes themselves: an upload or a file written with its body, each of
  which leaves a ``blob_uploads`` row for them that lives as long as the blob, or a record
  value they wrote, which its entry row in a version they made records (as long as the
  dataset exists, deleted or not; a row per value would have cost a bulk write of 10,000
  records a sixth of its time, for what the entries say already), or
- they may read a live dataset that holds the blob in any of its versions, as an entry's
  content or as a record's attachment (what they can read, they can copy).

Site admins, who may read everything, possess every blob the server holds.

Everywhere a client hands the server a digest instead of bytes (native commits, the blob
probe, Pigeon Optics attachment links, every later dialect and batch probe), the digests
the caller does not possess count as missing, exactly like digests of bytes the server
has never seen: nobody learns whether the server holds bytes they do not have.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, select, union
from sqlalchemy.orm import Session

from dataloft.core.access import Principal
from dataloft.core.datasets import visible_filter
from dataloft.db.batches import Columns, batches
from dataloft.db.models import (
    Blob,
    BlobUpload,
    Dataset,
    Entry,
    EntryAttachment,
    Version,
    table_of,
)
from dataloft.db.types import utcnow
from dataloft.db.upsert import insert_ignore

_DATASETS = table_of(Dataset)


def possessed(session: Session, actor: Principal, digests: Iterable[str]) -> set[str]:
    """Those of ``digests`` the actor may name (see the module docstring)."""
    wanted = list(dict.fromkeys(digests))
    found: set[str] = set()
    if actor.is_admin:
        for chunk in batches(wanted):
            found.update(session.scalars(select(Blob.digest).where(Blob.digest.in_(chunk))))
        return found
    for chunk in batches(wanted):
        readable = [_DATASETS.c.deleted_at.is_(None), visible_filter(actor)]  # not an admin
        in_datasets = _DATASETS.join(Entry, Entry.dataset_id == _DATASETS.c.id)
        held_as_content = (
            select(Entry.digest).select_from(in_datasets).where(Entry.digest.in_(chunk), *readable)
        )
        held_as_attachment = (
            select(EntryAttachment.digest)
            .select_from(in_datasets.join(EntryAttachment, EntryAttachment.entry_id == Entry.id))
            .where(EntryAttachment.digest.in_(chunk), *readable)
        )
        parts = [held_as_content, held_as_attachment]
        if actor.user_id is not None:
            parts.append(
                select(BlobUpload.digest).where(
                    BlobUpload.user_id == actor.user_id, BlobUpload.digest.in_(chunk)
                )
            )
            written = and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since)
            parts.append(
                select(Entry.digest)
                .join(Version, written)
                .where(
                    Entry.digest.in_(chunk),
                    Entry.kind == "record",
                    Version.author_id == actor.user_id,
                )
            )
        found.update(session.scalars(union(*parts)))
    return found


def record_uploads(session: Session, actor: Principal, digests: Iterable[str]) -> None:
    """The actor sent these bytes: from now on they possess them (in the caller's
    transaction, with the blobs' own rows)."""
    if actor.user_id is None:  # anonymous callers upload nothing; the server needs no right
        return
    wanted = list(dict.fromkeys(digests))
    columns: Columns = {
        "user_id": [actor.user_id] * len(wanted),
        "digest": wanted,
        "created": [utcnow()] * len(wanted),
    }
    insert_ignore(session, BlobUpload, columns, ["user_id", "digest"])
