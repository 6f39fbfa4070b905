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

Nobody possesses a *lost* blob (``blobs.lost_at``: ``dataloft fsck --repair`` found its
bytes gone or corrupt and could not restore them): its row stays for the entries that
name it, but to every caller it is missing until someone uploads the bytes again.

Everywhere a client hands the server a digest instead of bytes (native commits, the blob
probe, Pigeon Optics attachment links, every later dialect and batch probe), the digests
the caller does not possess count as missing, exactly like digests of bytes the server
has never seen: nobody learns whether the server holds bytes they do not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import CompoundSelect, Select, and_, select, union
from sqlalchemy.orm import Session

from dataloft.core.access import Principal
from dataloft.core.datasets import visible_filter
from dataloft.db.batches import Columns, batches
from dataloft.db.membership import among
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
    return set(possessed_sizes(session, actor, digests))


def possessed_sizes(session: Session, actor: Principal, digests: Iterable[str]) -> dict[str, int]:
    """The sizes of the blobs among ``digests`` the actor may name."""
    wanted = list(dict.fromkeys(digests))
    found: dict[str, int] = {}
    # Every answer comes through this select, so a lost blob is nobody's (the docstring).
    sizes = select(Blob.digest, Blob.size).where(Blob.lost_at.is_(None))
    if actor.is_admin:
        for chunk in batches(wanted):
            found.update(_pairs(session, sizes.where(among(Blob.digest, chunk))))
        return found
    if actor.user_id is not None:
        # What they sent answers most asks (a commit names what its push just uploaded)
        # by primary key; only the rest need the joins through datasets, which took a
        # 10,000-file commit a third of its time.
        uploaded = sizes.join(BlobUpload, BlobUpload.digest == Blob.digest)
        for chunk in batches(wanted):
            mine = uploaded.where(
                BlobUpload.user_id == actor.user_id, among(BlobUpload.digest, chunk)
            )
            found.update(_pairs(session, mine))
        wanted = [digest for digest in wanted if digest not in found]
    held: list[str] = []
    for chunk in batches(wanted):
        held.extend(session.scalars(_held_in_datasets(actor, chunk)))
    for chunk in batches(held):
        found.update(_pairs(session, sizes.where(among(Blob.digest, chunk))))
    return found


def _pairs(session: Session, query: Select[str, int]) -> dict[str, int]:
    return {digest: size for digest, size in session.execute(query)}


def _held_in_datasets(actor: Principal, chunk: Sequence[str]) -> CompoundSelect[tuple[str]]:
    """Those of ``chunk`` in datasets the actor can read (not an admin), and the record
    values they wrote."""
    readable = [_DATASETS.c.deleted_at.is_(None), visible_filter(actor)]
    in_datasets = _DATASETS.join(Entry, Entry.dataset_id == _DATASETS.c.id)
    held_as_content = (
        select(Entry.digest).select_from(in_datasets).where(among(Entry.digest, chunk), *readable)
    )
    held_as_attachment = (
        select(EntryAttachment.digest)
        .select_from(in_datasets.join(EntryAttachment, EntryAttachment.entry_id == Entry.id))
        .where(among(EntryAttachment.digest, chunk), *readable)
    )
    parts = [held_as_content, held_as_attachment]
    if actor.user_id is not None:
        written = and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since)
        parts.append(
            select(Entry.digest)
            .join(Version, written)
            .where(
                among(Entry.digest, chunk),
                Entry.kind == "record",
                Version.author_id == actor.user_id,
            )
        )
    return union(*parts)


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
