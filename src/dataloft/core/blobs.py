"""Blobs: content-addressed bytes, deduplicated across every dataset on the server.

Bytes are hashed while they stream in. Blobs up to ``inline_blob_limit`` stay in memory and
are stored in the database row itself (one query serves a small record, no file I/O);
larger ones go to the blob store. A ``blobs`` row exists for every blob an entry may
reference, and the entries' foreign key keeps referenced blobs from being collected.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataloft.core.access import Principal
from dataloft.core.errors import BlobLost, Conflict, DigestMismatch, TooLarge, space_checked
from dataloft.core.names import validate_digest
from dataloft.core.possession import possessed, record_uploads
from dataloft.db import Database
from dataloft.db.batches import BATCH_ROWS, Columns, batches
from dataloft.db.membership import among
from dataloft.db.models import Blob, Entry, EntryAttachment, PbenchDataset
from dataloft.db.types import utcnow
from dataloft.db.upsert import insert_ignore
from dataloft.storage import BlobMissing, BlobStore, StagedBlob
from dataloft.storage.base import DEFAULT_CHUNK, ByteBuffer
from dataloft.storage.chunks import Chunks, closing_iterator, memory_chunks

BLOB_STORE = "storage"  # what a full blob store is called in its StorageFull message
# hashlib releases the GIL on large buffers, so hashing here runs in parallel with writing.
_HASHER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="blob-hash")


@dataclass(frozen=True)
class StoredBlob:
    """Bytes that are durable (in the store, or held here to go inline into the row)."""

    digest: str
    size: int
    inline: bytes | None = None


@dataclass(frozen=True)
class BlobRef:
    """How to read a blob: its row's inline bytes, or the store."""

    digest: str
    size: int
    inline: bytes | None


@dataclass(frozen=True)
class GcReport:
    blobs_removed: int
    bytes_removed: int
    orphan_files_removed: int


def _human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:g} {unit}" if unit == "bytes" else f"{size:.4g} {unit}"
        size /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


# Another reader of an upload's bytes, given each batch once it is written.
Tee = Callable[[Sequence[ByteBuffer]], None]


def _update(digest: hashlib._Hash, pieces: Iterable[ByteBuffer]) -> None:
    for piece in pieces:
        digest.update(piece)


def hash_beside(
    digests: Iterable[hashlib._Hash], pieces: Sequence[ByteBuffer]
) -> list[Future[None]]:
    """Start feeding ``pieces`` to each of ``digests``, each on a hashing thread, so that
    the caller can write the same pieces meanwhile. The caller waits for every future
    before the pieces change or a digest is read (and gets a hashing error from it)."""
    return [_HASHER.submit(_update, digest, pieces) for digest in digests]


def wait_all(futures: Iterable[Future[None]]) -> None:
    for future in futures:
        future.result()


class Upload:
    """One blob arriving in pieces. ``finish`` verifies the digest (if one was announced)
    and makes the bytes durable; ``abort`` throws them away."""

    def __init__(
        self,
        store: BlobStore,
        inline_limit: int,
        max_size: int,
        expected: str | None,
        also: Sequence[hashlib._Hash] = (),
        tee: Tee | None = None,
    ) -> None:
        self._store = store
        # Other digests of the same bytes a caller wants (Pbench's MD5), each computed in
        # a thread of its own beside the sha256.
        self._also = tuple(also)
        # Who else reads the bytes as they are written (Pbench's tarball indexer).
        self._tee = tee
        self._inline_limit = inline_limit
        self._max_size = max_size
        self._expected = expected
        self._hash = hashlib.sha256()
        self._buffer: bytearray | None = bytearray()
        self._staged: StagedBlob | None = None
        self.size = 0

    def write(self, chunk: ByteBuffer) -> None:
        """Hash and store the next bytes."""
        self.write_pieces((chunk,))

    def write_pieces(self, pieces: Sequence[ByteBuffer]) -> None:
        """Hash and store the next bytes, given in pieces (one call for many pieces saves
        a thread hop per piece). Nothing keeps a piece once this returns."""
        self.size += sum(len(piece) for piece in pieces)
        if self.size > self._max_size:
            self.abort()
            raise TooLarge(f"upload exceeds the limit of {_human(self._max_size)}")
        try:
            with space_checked(BLOB_STORE):
                self._write(pieces)
        except BaseException:
            self.abort()
            raise

    def _write(self, pieces: Sequence[ByteBuffer]) -> None:
        others = hash_beside(self._also, pieces)
        try:
            self._write_hashed(pieces)
        finally:
            wait_all(others)
        if self._tee is not None:
            self._tee(pieces)

    def _write_hashed(self, pieces: Sequence[ByteBuffer]) -> None:
        taken = 0
        # Kept in memory, to go inline into the row, until the bytes pass the inline limit.
        while self._buffer is not None and taken < len(pieces):
            self._hash.update(pieces[taken])
            self._buffer += pieces[taken]
            taken += 1
            if len(self._buffer) > self._inline_limit:
                self._staged = self._store.stage()
                self._staged.write(self._buffer)
                self._buffer = None
        rest = pieces[taken:]
        if self._staged is None or not rest:
            return
        # Hash on another core while this thread writes; both release the GIL for each
        # piece. The hash is waited for before returning: the pieces are the caller's.
        hashing = hash_beside([self._hash], rest)
        try:
            for piece in rest:
                self._staged.write(piece)
        finally:
            wait_all(hashing)

    def digest(self) -> str:
        """The sha256 of the bytes written so far. The upload stays open: a caller can learn
        the digest first, then ``finish`` or ``abort``."""
        return self._hash.hexdigest()

    def finish(self) -> StoredBlob:
        digest = self.digest()
        if self._expected is not None and digest != self._expected:
            self.abort()
            raise DigestMismatch(f"content has sha256 {digest}, not the announced {self._expected}")
        if self._staged is not None:
            with space_checked(BLOB_STORE):
                self._staged.publish(digest)
            return StoredBlob(digest, self.size)
        assert self._buffer is not None
        return StoredBlob(digest, self.size, bytes(self._buffer))

    def abort(self) -> None:
        if self._staged is not None:
            self._staged.abort()


class BlobService:
    def __init__(self, db: Database, store: BlobStore, *, inline_limit: int, max_size: int) -> None:
        self.db = db
        self.store = store
        self.inline_limit = inline_limit
        self.max_size = max_size
        self._inline_up_to = min(inline_limit, max_size)  # asked once per record value

    # --- writing ---------------------------------------------------------------------------

    def start_upload(
        self,
        *,
        max_size: int | None = None,
        expected: str | None = None,
        also: Sequence[hashlib._Hash] = (),
        tee: Tee | None = None,
    ) -> Upload:
        """An upload; ``also`` are other digests to compute of the same bytes, and ``tee``
        is given every batch of pieces once it is written (pieces the writer will not
        change: ``bytes``, or views of them), and may raise to stop the upload."""
        if expected is not None:
            validate_digest(expected)
        limit = self.max_size if max_size is None else min(max_size, self.max_size)
        return Upload(self.store, self.inline_limit, limit, expected, also, tee)

    def receive(
        self, chunks: Iterable[bytes], *, max_size: int | None = None, expected: str | None = None
    ) -> StoredBlob:
        upload = self.start_upload(max_size=max_size, expected=expected)
        try:
            for chunk in chunks:
                upload.write(chunk)
        except BaseException:
            upload.abort()
            raise
        return upload.finish()

    def from_bytes(self, data: bytes) -> StoredBlob:
        if len(data) <= self._inline_up_to:
            # What an ``Upload`` of these bytes would end with (inline, no file written),
            # without its per-chunk machinery: a bulk write stores thousands of small
            # records, and that machinery cost five times the hashing of each.
            return StoredBlob(hashlib.sha256(data).hexdigest(), len(data), bytes(data))
        return self.receive([data])

    def register(self, session: Session, blobs: Iterable[StoredBlob]) -> None:
        """Make sure rows exist for these blobs, in the caller's transaction (and that
        none of them is marked lost any more: ``revive``)."""
        unique = list({b.digest: b for b in blobs}.values())
        self._insert(session, unique)
        self._keep(session, unique)
        self.revive(session, unique)

    def _keep(self, session: Session, unique: Sequence[StoredBlob]) -> None:
        """Hold the rows of ``unique``, which the caller inserted where missing, until the
        transaction ends; those a collector removed meanwhile (there when we inserted, so
        we inserted nothing, and gone since) are inserted again: ours then, uncommitted,
        no collector can take them."""
        held = self.hold(session, [blob.digest for blob in unique])
        if held is None or len(held) == len(unique):
            return
        again = [blob for blob in unique if blob.digest not in held]
        # That collector may have taken the stored bytes too, if they were published before
        # its cutoff (a grace period shorter than this upload's publish-to-commit): then
        # say so, rather than keep a row of bytes that are gone.
        for blob in again:
            if blob.inline is None and not self.store.exists(blob.digest):
                raise Conflict(
                    f"garbage collection removed blob {blob.digest} while it was being "
                    "saved: send it again"
                )
        self._insert(session, again)

    def _insert(self, session: Session, unique: Sequence[StoredBlob]) -> None:
        now = utcnow()
        columns: Columns = {
            "digest": [b.digest for b in unique],
            "size": [b.size for b in unique],
            "data": [b.inline for b in unique],
            "created": [now] * len(unique),
            "touched": [now] * len(unique),
        }
        insert_ignore(session, Blob, columns, ["digest"])

    @staticmethod
    def hold(session: Session, digests: Sequence[str]) -> set[str] | None:
        """Lock the rows of those of ``digests`` that exist against garbage collection until
        the caller's transaction ends, and say which those are (PostgreSQL); None on
        SQLite, where a write transaction holds the whole database already.

        A commit first finds the blobs it names, then inserts entries referencing them; a
        collector's delete committed in between would break the entries' foreign key.
        ``FOR KEY SHARE`` is the lock that foreign key's own check takes: it lets other
        commits reference the rows too, and makes the collector skip them (its delete
        locks ``SKIP LOCKED``, ``collect_garbage``)."""
        if session.get_bind().dialect.name != "postgresql":
            return None
        held: set[str] = set()
        for chunk in batches(list(dict.fromkeys(digests))):
            held.update(
                session.scalars(
                    select(Blob.digest)
                    .where(among(Blob.digest, chunk))
                    .with_for_update(key_share=True)
                )
            )
        return held

    @staticmethod
    def revive(session: Session, blobs: Sequence[StoredBlob]) -> None:
        """Rows ``dataloft fsck --repair`` marked lost (``Blob.lost_at``) whose bytes are
        durable again, being ``blobs`` (just received): the mark goes, and an inline blob's
        bytes go back into its row. The partial index ``ix_blobs_lost`` is asked first,
        and holds nothing on a healthy server: one lookup of an empty index per upload."""
        if not blobs:
            return
        lost = select(Blob.digest).where(Blob.lost_at.is_not(None))
        if session.scalar(lost.limit(1)) is None:
            return
        by_digest = {blob.digest: blob for blob in blobs}
        for chunk in batches(list(by_digest)):
            for digest in session.scalars(lost.where(among(Blob.digest, chunk))).all():
                blob = by_digest[digest]
                session.execute(
                    update(Blob)
                    .where(Blob.digest == digest)
                    .values(lost_at=None, data=blob.inline, size=blob.size, touched=utcnow())
                    .execution_options(synchronize_session=False)
                )

    def save(self, actor: Principal, blob: StoredBlob) -> bool:
        """Register one blob the actor uploaded on its own. True if it is new *to them*:
        whether the server held the bytes already (someone else's) stays private."""
        return bool(self.save_many(actor, [blob]))

    def save_many(self, actor: Principal, blobs: Sequence[StoredBlob]) -> set[str]:
        """Register blobs the actor uploaded, in one transaction; the digests of those new
        *to them* (see ``save``)."""
        with self.db.write() as session:
            return self.save_many_in(session, actor, blobs)

    def save_in(self, session: Session, actor: Principal, blob: StoredBlob) -> bool:
        """``save``, in the caller's transaction (with the rows that go with it)."""
        return bool(self.save_many_in(session, actor, [blob]))

    def save_many_in(
        self, session: Session, actor: Principal, blobs: Sequence[StoredBlob]
    ) -> set[str]:
        """``save_many``, in the caller's transaction."""
        digests = [blob.digest for blob in blobs]
        had = possessed(session, actor, digests)
        held = self.claim(session, digests, recent_enough=True)
        unique = list({blob.digest: blob for blob in blobs}.values())
        self._insert(session, [blob for blob in unique if blob.digest not in held])
        self._keep(session, unique)
        self.revive(session, [blob for blob in unique if blob.digest in held])
        record_uploads(session, actor, digests)
        return set(digests) - had

    def adopt_file(self, path: Path, size: int, digest: str) -> StoredBlob:
        """The whole, fsynced file at ``path`` (``size`` bytes whose sha256 the caller
        computed: ``digest``) as a blob, for ``save``: inline if it is that small; else
        published by the store without a copy where it can take the file itself (a hard
        link, same file system), or else streamed in, hashed again on the way."""
        if size <= self._inline_up_to:
            return StoredBlob(digest, size, path.read_bytes())
        with space_checked(BLOB_STORE):
            if self.store.adopt(path, digest):
                return StoredBlob(digest, size)
        with path.open("rb", buffering=0) as file:
            return self.receive(iter(partial(file.read, DEFAULT_CHUNK), b""), expected=digest)

    def has(self, actor: Principal, digest: str) -> bool:
        """Whether the actor may name this blob (see ``dataloft.core.possession``): the
        bytes are on the server and the actor sent them or can read them. A hit counts as
        use: the blob survives garbage collection for the grace period, long enough to
        commit a reference to it."""
        validate_digest(digest)
        with self.db.write() as session:
            return bool(possessed(session, actor, [digest])) and self._touch(session, digest)

    def missing(self, actor: Principal, digests: Sequence[str]) -> list[str]:
        """Those of ``digests`` the actor must send, in the order given, each once: the
        ones they may not name (``has``, for many at once: one query per thousand). The
        others count as used, as a hit of ``has`` does (unless they were just now: see
        ``claim``)."""
        for digest in digests:
            validate_digest(digest)
        wanted = list(dict.fromkeys(digests))
        with self.db.write() as session:
            held = possessed(session, actor, wanted)
            now = utcnow()
            for chunk in batches(sorted(held)):
                _touch_stale(session, chunk, now)
        return [digest for digest in wanted if digest not in held]

    def claim(
        self, session: Session, digests: Iterable[str], *, recent_enough: bool = False
    ) -> set[str]:
        """Those of ``digests`` the server holds, marked as used in the caller's
        transaction. Until it ends, the touched rows are locked (PostgreSQL) or the
        database is (SQLite), and garbage collection re-checks ``touched`` on a row a
        transaction changed, so it cannot remove them before references to them commit.

        ``recent_enough`` (uploads): a blob touched less than ``TOUCH_AGAIN_AFTER`` ago is
        left as it is. Collection spares it for its grace period (hours) less that much,
        and rewriting the row is what a re-upload of small blobs costs most: a row holds
        its bytes inline, so touching 10,000 of 4 KiB rewrote 40 MB (0.16 s)."""
        wanted = list(dict.fromkeys(digests))
        held: set[str] = set()
        now = utcnow()
        for chunk in batches(wanted):
            if recent_enough:
                held.update(session.scalars(select(Blob.digest).where(among(Blob.digest, chunk))))
                _touch_stale(session, chunk, now)
                continue
            rows = session.execute(
                update(Blob)
                .where(among(Blob.digest, chunk))
                .values(touched=now)
                .returning(Blob.digest)
                .execution_options(synchronize_session=False)
            )
            held.update(rows.scalars())
        return held

    @staticmethod
    def _touch(session: Session, digest: str) -> bool:
        result = session.execute(update(Blob).where(Blob.digest == digest).values(touched=utcnow()))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- reading ---------------------------------------------------------------------------

    def read(
        self, ref: BlobRef, start: int = 0, end: int | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> Chunks:
        """A reader of the bytes ``[start, end)``, which the caller closes (also when it
        stops early: see ``dataloft.storage.chunks``). For store blobs the file is opened
        now, so a missing blob fails before the caller starts a response."""
        if ref.inline is not None:
            return memory_chunks(ref.inline, start, end, chunk_size)
        try:
            return self.store.read(ref.digest, start, end, chunk_size)
        except BlobMissing:
            raise BlobLost(f"the bytes of blob {ref.digest} are missing from the store") from None

    def read_all(self, ref: BlobRef) -> bytes:
        with closing_iterator(self.read(ref)) as chunks:  # closed on a failed read too
            return b"".join(chunks)

    def local_path(self, ref: BlobRef) -> Path | None:
        return None if ref.inline is not None else self.store.local_path(ref.digest)

    def download_url(self, ref: BlobRef, *, media_type: str, disposition: str | None) -> str | None:
        """A URL from which a client may GET the whole blob itself for a while, answered
        with this ``Content-Type`` and ``Content-Disposition``: where the store can sign one
        and is configured to (an S3 store with DATALOFT_S3_PRESIGNED_DOWNLOADS); else None.
        Only for a caller who may read the blob: the URL is a bearer credential."""
        if ref.inline is not None:
            return None
        presign = getattr(self.store, "presigned_url", None)
        if presign is None:
            return None
        url: str | None = presign(ref.digest, media_type=media_type, disposition=disposition)
        return url

    # --- garbage collection ----------------------------------------------------------------

    def collect_garbage(
        self,
        grace_seconds: float,
        *,
        scan_store: bool = False,
        dry_run: bool = False,
        between_phases: Callable[[], None] | None = None,
    ) -> GcReport:
        """Delete blobs no entry references (as content or as an attachment), no Pbench
        dataset keeps as its tarball, and nobody
        touched within the grace period. ``scan_store`` also removes stored files with no
        row (left by a crash between storing a blob and committing its row).
        ``between_phases`` runs after the rows are deleted and before the files are (a seam
        for tests of the races below).

        Safe online. The rows go first, in one statement that repeats both conditions, so
        a blob that a commit references or an upload touches meanwhile keeps its row (on
        PostgreSQL the delete re-checks a row that a concurrent transaction changed; on
        SQLite writers take turns; a commit that references a deleted row fails on the
        entries' foreign key). Once the rows are gone, an upload of the same bytes registers
        a new row, and its publish either refreshes the stored file or writes its own copy;
        so files are deleted only if their stamp (``store.modified``) is still older than
        the cutoff at the instant they go: ``delete(digest, before=cutoff)``, whose
        contract (see ``dataloft.storage.base`` and, for files, the interleavings argued in
        ``dataloft.storage.local``) is that a publish that began after the cutoff keeps
        its bytes. The cutoff is taken before any row is deleted, so every upload that can
        register a row after that deletion began its publish after the cutoff, as long as
        its publish and registration take less than the grace period.

        ``dry_run`` deletes nothing and reports what a run now would remove (a real run
        a moment later may remove a little more or less: uploads and commits go on)."""
        cutoff = time.time() - grace_seconds
        cutoff_at = datetime.fromtimestamp(cutoff, UTC)
        garbage = and_(
            Blob.touched < cutoff_at,
            ~exists().where(Entry.digest == Blob.digest),
            ~exists().where(EntryAttachment.digest == Blob.digest),
            ~exists().where(PbenchDataset.tarball_digest == Blob.digest),
        )
        # length(data), not "data IS NULL": SQLite 3.40 answers IS NULL wrongly in a
        # DELETE's RETURNING clause.
        found = (Blob.digest, Blob.size, func.length(Blob.data))
        if dry_run:
            with self.db.read() as session:
                rows = session.execute(select(*found).where(garbage)).all()
        else:
            rows = self._delete_rows(garbage, found)
        removed = [(digest, size, inline is None) for digest, size, inline in rows]
        if dry_run:
            orphans = self._count_orphans(cutoff) if scan_store else 0
            return GcReport(len(removed), sum(size for _, size, _ in removed), orphans)
        if between_phases is not None:
            between_phases()
        for digest, _size, in_store in removed:
            if in_store:
                self.store.delete(digest, before=cutoff)
        orphans = self._remove_orphans(cutoff) if scan_store else 0
        return GcReport(len(removed), sum(size for _, size, _ in removed), orphans)

    def _delete_rows(self, garbage: ColumnElement[bool], found: tuple[Any, ...]) -> list[Any]:
        """Delete the rows that are ``garbage``, returning ``found`` of each.

        On PostgreSQL the rows are locked ``SKIP LOCKED`` first: a commit that holds one
        (``hold``: about to reference it) keeps it, where a plain delete would wait for that
        commit and then break its foreign key. One window stays: a commit that referenced
        a row and committed after this statement's snapshot but before its lock; the
        foreign key then refuses the whole delete, and the next attempt, in a new
        snapshot, sees the reference."""
        for _ in range(DELETE_ATTEMPTS - 1):
            with contextlib.suppress(IntegrityError):
                return self._delete_once(garbage, found)
        return self._delete_once(garbage, found)  # the last attempt's error is the caller's

    def _delete_once(self, garbage: ColumnElement[bool], found: tuple[Any, ...]) -> list[Any]:
        with self.db.write() as session:
            candidates = select(Blob.digest).where(garbage)
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            return list(
                session.execute(
                    delete(Blob)
                    .where(Blob.digest.in_(candidates))
                    .returning(*found)
                    .execution_options(synchronize_session=False)
                ).all()
            )

    def _remove_orphans(self, cutoff: float) -> int:
        """Only files stamped before the cutoff: a younger one may belong to an upload
        whose row is about to be committed (and the conditional delete re-checks that, in
        case one re-published the blob after we listed it)."""
        cleaned = sum(self.store.delete(digest, before=cutoff) for digest in self._orphans(cutoff))
        clean_staging = getattr(self.store, "clean_staging", None)
        if clean_staging is not None:
            cleaned += clean_staging(time.time() - cutoff)
        return cleaned

    def _count_orphans(self, cutoff: float) -> int:
        """How many stored blobs ``_remove_orphans`` would remove now (staging files aside)."""
        return sum(1 for _ in self._orphans(cutoff))

    def _orphans(self, cutoff: float) -> Iterator[str]:
        """The stored blobs stamped before ``cutoff`` that have no row, a batch at a time."""
        batch: list[str] = []
        for digest in self.store.digests():
            with contextlib.suppress(BlobMissing):
                if self.store.modified(digest) < cutoff:
                    batch.append(digest)
            if len(batch) >= BATCH_ROWS:
                yield from self.without_rows(batch)
                batch = []
        yield from self.without_rows(batch)

    def without_rows(self, digests: Sequence[str]) -> list[str]:
        """Those of ``digests`` that have no row (``fsck --repair`` deletes its orphans
        through this and the conditional delete, as collection does)."""
        if not digests:
            return []
        with self.db.read() as session:
            known = set(session.scalars(select(Blob.digest).where(Blob.digest.in_(digests))))
        return [digest for digest in digests if digest not in known]


# Deletes of garbage rows a reference committed into, retried in a new snapshot
# (``BlobService._delete_rows``): each retry needs another commit in the same instant.
DELETE_ATTEMPTS = 5

# A blob touched less than this long ago is not touched again by an upload or a probe (see
# ``BlobService.claim``): well below any grace period of collection worth the name.
TOUCH_AGAIN_AFTER = 600.0


def _touch_stale(session: Session, digests: Sequence[str], now: datetime) -> None:
    """Mark as used those of ``digests`` not marked in the last ``TOUCH_AGAIN_AFTER``."""
    stale = now - timedelta(seconds=TOUCH_AGAIN_AFTER)
    session.execute(
        update(Blob)
        .where(among(Blob.digest, digests), Blob.touched < stale)
        .values(touched=now)
        .execution_options(synchronize_session=False)
    )
