"""``dataloft fsck``: does the blob store hold what the database says it holds?

Every ``blobs`` row either carries its bytes inline or names bytes in the store. The check
reads all of them back and hashes them (several at once, streamed: a store of many GB is
read once, in chunks), and lists what it finds wrong:

- ``missing``: a row whose bytes are not in the store;
- ``corrupt``: bytes (in the store, or inline in the row) that do not hash to the blob's
  name, or are not its recorded size;
- ``orphan``: a stored object with no row, older than the grace period (younger ones are
  uploads whose rows have not committed yet: counted, never reported or removed).

It is safe on a live server. Rows are read a batch at a time, each batch in a short read
transaction; a suspect is checked again before it is reported, so a blob that garbage
collection removed meanwhile (row, then file) is not taken for a missing one.

Repair (``repair=True``):

- an orphan is deleted as collection deletes one (``BlobService.without_rows``, then
  ``store.delete(before=...)``): only if it still has no row and nobody re-published it
  since the cutoff;
- with a ``backup`` store, missing and corrupt blobs are copied back from it, each hashed
  on the way and published only if it proves right;
- a corrupt object is first deleted from the store: publishing a digest the store holds
  keeps the stored bytes (the store Protocol), so otherwise neither the backup's copy nor
  a client's re-upload could ever replace them;
- what no backup gave back is marked lost (``Blob.lost_at``), and a corrupt inline copy
  is dropped from its row. Nobody possesses a lost blob (``core/possession.py``): probes
  and commits ask clients for the bytes, and the first upload of them stores them afresh
  and clears the mark (``BlobService.revive``). Until then a read of it fails as a lost
  blob, never with wrong bytes.

Marking comes after deleting, and a blob found back in the store at that moment (a
client re-uploaded it in between) is not marked: a mark is thus only ever on bytes that
are gone, or, in a race with an upload, superfluous (the next upload, or the next
``fsck --repair``, which clears marks on blobs it finds sound, takes it away).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sqlalchemy import func, select, update

from dataloft.core.blob_integrity import (
    CorruptBlob,
    Measured,
    copy_verified,
    in_parallel,
    measure,
    why_corrupt,
)
from dataloft.core.blobs import BlobService
from dataloft.db import Database
from dataloft.db.batches import BATCH_ROWS, batches
from dataloft.db.membership import among
from dataloft.db.models import Blob, Dataset, Entry, EntryAttachment, PbenchDataset, User
from dataloft.db.types import utcnow
from dataloft.storage import BlobMissing, BlobStore

Kind = Literal["missing", "corrupt", "orphan"]
# References listed per missing or corrupt blob; the rest are counted.
REFERENCES_SHOWN = 5


class Meter(Protocol):
    """Where the check counts its progress (``cli/progress.py``'s meters are such)."""

    def advance(self, count: int) -> None: ...

    def file_done(self) -> None: ...


@dataclass
class Finding:
    kind: Kind
    digest: str
    size: int  # recorded (missing, corrupt) or stored (orphan)
    inline: bool = False  # the corrupt bytes are the row's own
    why: str = ""
    references: list[str] = field(default_factory=list)
    more_references: bool = False
    repaired: str = ""  # what repair did about it


@dataclass
class FsckReport:
    findings: list[Finding] = field(default_factory=list)
    stored_checked: int = 0
    stored_bytes: int = 0
    inline_checked: int = 0
    recent_orphans: int = 0  # objects with no row, younger than the grace period
    marks_cleared: int = 0  # lost marks taken off blobs found sound (repair)
    marked_lost: int = 0  # blobs found lost before this run, still lost

    @property
    def clean(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class _Row:
    digest: str
    size: int
    data: bytes | None
    lost: bool


def stored_totals(db: Database) -> tuple[int, int]:
    """How many blobs the store should hold, and their bytes (for a progress bar)."""
    with db.read() as session:
        count, size = session.execute(
            select(func.count(), func.coalesce(func.sum(Blob.size), 0)).where(Blob.data.is_(None))
        ).one()
    return int(count), int(size)


class Fsck:
    def __init__(
        self,
        db: Database,
        blobs: BlobService,
        *,
        grace_seconds: float,
        jobs: int = 4,
        meter: Meter | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.store: BlobStore = blobs.store
        self.grace_seconds = grace_seconds
        self.jobs = jobs
        self.meter = meter

    def run(self, *, repair: bool = False, backup: BlobStore | None = None) -> FsckReport:
        cutoff = time.time() - self.grace_seconds
        report = FsckReport()
        sound_but_marked: list[str] = []
        suspects: dict[str, Finding] = {}
        for row, finding in self._check_rows(report):
            if finding is not None:
                suspects[row.digest] = finding
            elif row.lost:
                sound_but_marked.append(row.digest)
        report.findings = self._confirmed(suspects)
        report.findings.extend(self._orphans(cutoff, report))
        for finding in report.findings:
            if finding.kind != "orphan":
                finding.references, finding.more_references = self._references(finding.digest)
        if repair:
            report.marks_cleared = self._clear_marks(sound_but_marked)
            self._repair(report.findings, cutoff, backup)
        with self.db.read() as session:
            report.marked_lost = (
                session.scalar(select(func.count()).where(Blob.lost_at.is_not(None))) or 0
            )
        return report

    # --- checking --------------------------------------------------------------------------

    def _rows(self) -> Iterator[_Row]:
        """Every blob row, by digest, a batch per short read transaction (a long one would
        hold SQLite's WAL from being checkpointed for the whole run)."""
        after = ""
        while True:
            with self.db.read() as session:
                batch = session.execute(
                    select(Blob.digest, Blob.size, Blob.data, Blob.lost_at.is_not(None))
                    .where(Blob.digest > after)
                    .order_by(Blob.digest)
                    .limit(BATCH_ROWS)
                ).all()
            for digest, size, data, lost in batch:
                yield _Row(digest, size, data, bool(lost))
            if len(batch) < BATCH_ROWS:
                return
            after = batch[-1][0]

    def _check_rows(self, report: FsckReport) -> Iterator[tuple[_Row, Finding | None]]:
        corrupt_inline: list[_Row] = []

        def inline_first() -> Iterator[_Row]:
            # Inline rows are checked here at once; the stored ones go to the threads.
            for row in self._rows():
                if row.data is None:
                    yield row
                    continue
                report.inline_checked += 1
                measured = Measured(hashlib.sha256(row.data).hexdigest(), len(row.data))
                why = why_corrupt(row.digest, row.size, measured)
                if why is not None:
                    corrupt_inline.append(row)  # reported below, with the threads' results
                    inline_findings[row.digest] = Finding(
                        "corrupt", row.digest, row.size, inline=True, why=why
                    )

        inline_findings: dict[str, Finding] = {}
        for row, future in in_parallel(self._check_stored, inline_first(), self.jobs):
            report.stored_checked += 1
            report.stored_bytes += row.size
            if self.meter is not None:
                self.meter.file_done()
            yield row, future.result()
        for row in corrupt_inline:
            yield row, inline_findings[row.digest]

    def _check_stored(self, row: _Row) -> Finding | None:
        advance = self.meter.advance if self.meter is not None else _ignore
        try:
            measured = measure(self.store, row.digest, advance)
        except BlobMissing:
            return Finding("missing", row.digest, row.size)
        why = why_corrupt(row.digest, row.size, measured)
        return None if why is None else Finding("corrupt", row.digest, row.size, why=why)

    def _confirmed(self, suspects: dict[str, Finding]) -> list[Finding]:
        """The suspects whose row is still there, checked once more: garbage collection
        deletes a row and then its file, and a row read before and a file looked for after
        make a blob look missing that was merely collected."""
        confirmed: list[Finding] = []
        for chunk in batches(sorted(suspects)):
            with self.db.read() as session:
                rows = {
                    digest: data
                    for digest, data in session.execute(
                        select(Blob.digest, Blob.data).where(among(Blob.digest, chunk))
                    )
                }
            for digest in chunk:
                finding = suspects[digest]
                if digest not in rows:
                    continue  # collected meanwhile
                if finding.inline or rows[digest] is not None:
                    confirmed.append(finding)
                    continue
                try:
                    measured = measure(self.store, digest)
                except BlobMissing:
                    confirmed.append(Finding("missing", digest, finding.size))
                    continue
                why = why_corrupt(digest, finding.size, measured)
                if why is not None:
                    confirmed.append(Finding("corrupt", digest, finding.size, why=why))
        return confirmed

    def _orphans(self, cutoff: float, report: FsckReport) -> list[Finding]:
        """Stored objects without a row: listed first, then looked up (a blob published
        and registered while we list has its row by then); those stamped after ``cutoff``
        are uploads in progress, counted only."""
        found: list[Finding] = []
        for chunk in _chunked(self.store.digests(), BATCH_ROWS):
            with self.db.read() as session:
                known = set(session.scalars(select(Blob.digest).where(among(Blob.digest, chunk))))
            for digest in chunk:
                if digest in known:
                    continue
                try:
                    if self.store.modified(digest) >= cutoff:
                        report.recent_orphans += 1
                        continue
                    size = self.store.size(digest)
                except BlobMissing:
                    continue  # removed meanwhile
                found.append(Finding("orphan", digest, size))
        return found

    def _references(self, digest: str) -> tuple[list[str], bool]:
        """Where the blob is used: dataset, versions and path, as many as ``REFERENCES_SHOWN``
        (and whether there are more)."""
        owner = User.username
        where = (Dataset.id == Entry.dataset_id, User.id == Dataset.owner_id)
        place = (Entry.kind, Entry.path, Entry.since, Entry.until)
        entries = select(owner, Dataset.name, Dataset.deleted_at, *place)
        as_content = entries.where(Entry.digest == digest, *where)
        as_attachment = entries.where(
            EntryAttachment.digest == digest, Entry.id == EntryAttachment.entry_id, *where
        )
        as_tarball = select(owner, Dataset.name, Dataset.deleted_at, PbenchDataset.name).where(
            PbenchDataset.tarball_digest == digest,
            Dataset.id == PbenchDataset.dataset_id,
            User.id == Dataset.owner_id,
        )
        lines: list[str] = []
        limit = REFERENCES_SHOWN + 1
        with self.db.read() as session:
            for how, query in (("", as_content), ("attachment of ", as_attachment)):
                rows = session.execute(query.order_by(Entry.id).limit(limit - len(lines))).all()
                for user, name, deleted, kind, path, since, until in rows:
                    lines.append(
                        f"{_address(user, name, deleted)} {_versions(since, until)}: "
                        f"{how}{kind} {path}"
                    )
            if len(lines) < limit:
                for user, name, deleted, tarball in session.execute(as_tarball.limit(limit)):
                    lines.append(f"{_address(user, name, deleted)}: Pbench tarball {tarball}")
        return lines[:REFERENCES_SHOWN], len(lines) > REFERENCES_SHOWN

    # --- repairing -------------------------------------------------------------------------

    def _clear_marks(self, digests: Sequence[str]) -> int:
        cleared = 0
        for chunk in batches(digests):
            with self.db.write() as session:
                result = session.execute(
                    update(Blob)
                    .where(among(Blob.digest, chunk), Blob.lost_at.is_not(None))
                    .values(lost_at=None)
                    .execution_options(synchronize_session=False)
                )
                cleared += result.rowcount  # type: ignore[attr-defined]
        return cleared

    def _repair(self, findings: list[Finding], cutoff: float, backup: BlobStore | None) -> None:
        orphans = [f for f in findings if f.kind == "orphan"]
        for chunk in batches(orphans):
            for digest in self.blobs.without_rows([f.digest for f in chunk]):
                self.store.delete(digest, before=cutoff)
            for finding in chunk:
                kept = self.store.exists(finding.digest)
                finding.repaired = "kept: it has a row now" if kept else "deleted"
        for finding in findings:
            if finding.kind != "orphan":
                finding.repaired = self._heal(finding, backup)

    def _heal(self, finding: Finding, backup: BlobStore | None) -> str:
        """Restore one missing or corrupt blob from ``backup``, or mark it lost."""
        if finding.kind == "corrupt" and not finding.inline:
            # Unconditionally: its stamp says nothing about its bytes (a re-upload of the
            # right ones only refreshed it). A copy published after our check would be
            # sound and go too; the mark below is then skipped or superfluous (docstring).
            self.store.delete(finding.digest)
        why_not = "no backup given"
        if backup is not None:
            try:
                copy_verified(backup, self.store, finding.digest, finding.size)
            except BlobMissing:
                why_not = "not in the backup either"
            except CorruptBlob as error:
                why_not = f"the backup's copy is corrupt too ({error.why})"
            else:
                self._restored(finding.digest)
                return "restored from the backup"
        if self._mark_lost(finding):
            removed = "dropped from its row" if finding.inline else "removed from the store"
            prefix = f"{removed}, " if finding.kind == "corrupt" else ""
            return f"{prefix}marked lost ({why_not}): upload the same bytes again to heal it"
        return "stored again meanwhile (a client uploaded it)"

    def _restored(self, digest: str) -> None:
        """The store holds the blob again: its row reads it from there, unmarked."""
        with self.db.write() as session:
            session.execute(
                update(Blob)
                .where(Blob.digest == digest)
                .values(lost_at=None, data=None)
                .execution_options(synchronize_session=False)
            )

    def _mark_lost(self, finding: Finding) -> bool:
        """Mark the blob lost unless it is back in the store (see the module docstring),
        in a transaction that holds the row meanwhile; a corrupt inline copy leaves its
        row, so that reads fail rather than serve it."""
        with self.db.write() as session:
            if not finding.inline and self.store.exists(finding.digest):
                return False
            values: dict[str, object] = {"lost_at": utcnow()}
            if finding.inline:
                values["data"] = None
            session.execute(
                update(Blob)
                .where(Blob.digest == finding.digest)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return True


def _ignore(count: int) -> None:
    pass


def _chunked(items: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _address(owner: str, name: str, deleted: object) -> str:
    return f"{owner}/{name}" + (" (deleted)" if deleted is not None else "")


def _versions(since: int, until: int | None) -> str:
    if until is None:
        return f"version {since} on"
    if until == since + 1:
        return f"version {since}"
    return f"versions {since}-{until - 1}"
