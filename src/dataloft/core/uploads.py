"""Resumable uploads: the server side of the tus protocol, without HTTP. A user sends the
bytes of one blob in as many requests as it takes, resumes after any interruption from
the offset the server reports, and the bytes become a blob once they are all there.

An upload is a row (``db.models.ResumableUpload``) and a partial file,
``<data dir>/uploads/<id>``. The row's ``received`` is how many bytes of the file are
durable: the offset a client resumes from. Three rules keep the two in step.

- ``received`` is recorded only after the bytes below it are fsynced, so that no crash
  leaves an offset past what the file holds. A client that goes away in the middle of a
  request keeps what arrived: it is fsynced and recorded (``Patch.keep``).
- Bytes past ``received`` are never trusted: the next writer truncates them away before
  it appends. They are what a crash, or a refused request (a checksum that did not match,
  a full disk), left behind. Bytes below ``received`` never change.
- One writer at a time: a writer holds an exclusive ``flock`` on the partial file, which
  every process on the machine sees and the kernel drops when a process dies. A second
  writer is refused at once (``Conflict``), not queued, as tus asks. (The lock, the
  rehashing and the per-process running hashes are ``core/partials.py``.)

When ``received`` reaches ``length`` that is recorded first; then the upload is finished
(``_complete``): its sha256 (kept running in this process while the bytes came, or else
read back from the file) is checked against the one the client declared, the file becomes
a blob (linked into the blob store where it can be, not copied: ``BlobService.
adopt_file``), the uploader is recorded as possessing it, and the partial file goes. A
crash or a full disk anywhere in between leaves an upload whose bytes are all durable and
not yet a blob; the next request for it (a ``HEAD``, or a ``PATCH`` at its length)
finishes it. Once linked into the store, the partial file may be the blob itself: the
second rule is why nothing ever truncates it then (``received`` is already its length).

An upload no bytes reached for ``upload_expiry_seconds`` has expired: it is not found any
more, and ``reclaim`` removes its row and its bytes (a few at every new upload, all of them
from ``dataloft gc``, which also removes partial files whose row is gone). One process
reclaims at a time (the claim ``uploads:reclaim``, ``db/claims.py``): a new upload's sweep
skips its turn while another runs, ``dataloft gc`` waits for it. Each removal is safe
without the claim too (the partial file's lock, the row deleted only if still expired);
the claim saves several processes from racing each other through the same list.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Select, delete, func, select, update

from dataloft.core.access import Principal, require_full_token
from dataloft.core.blobs import BLOB_STORE, BlobService, hash_beside, wait_all
from dataloft.core.errors import (
    ChecksumMismatch,
    Conflict,
    DigestMismatch,
    Forbidden,
    Invalid,
    LoftError,
    NotFound,
    ServerFault,
    TooLarge,
    space_checked,
)
from dataloft.core.names import validate_digest
from dataloft.core.partials import (
    CHECKSUMS,
    Checksum,
    PartialWriter,
    RunningHashes,
    hash_partial,
    lock_partial,
)
from dataloft.db import Database
from dataloft.db.batches import batches
from dataloft.db.claims import Claims
from dataloft.db.models import ResumableUpload as Row
from dataloft.storage.base import ByteBuffer
from dataloft.storage.direct import worth_it

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
# Expired uploads reclaimed in passing whenever one is created: bounded, so creating one
# stays cheap however many were abandoned; `dataloft gc` reclaims the rest.
SWEEP = 16
RECLAIM = "uploads:reclaim"


@dataclass(frozen=True)
class UploadState:
    """What a client is told of an upload."""

    id: str
    length: int
    offset: int
    metadata: str | None  # Upload-Metadata, as the client sent it
    expires: datetime
    digest: str | None  # the blob's sha256, once the upload is finished


@dataclass(frozen=True)
class ReclaimReport:
    uploads_removed: int
    bytes_removed: int
    orphan_files_removed: int


@dataclass(frozen=True)
class _Upload:
    id: str
    user_id: int
    length: int
    received: int
    metadata: str | None
    expected: str | None
    digest: str | None
    touched: datetime


_COLUMNS = (
    Row.id,
    Row.user_id,
    Row.length,
    Row.received,
    Row.upload_metadata,
    Row.expected,
    Row.digest,
    Row.touched,
)


def require_uploader(actor: Principal) -> int:
    """The actor's user id, if they may upload: a user, with a token that may write (the
    server itself, which is no user, owns no upload)."""
    require_full_token(actor, "upload")
    if actor.user_id is None:
        raise Forbidden("only users upload")
    return actor.user_id


class UploadService:
    def __init__(
        self,
        db: Database,
        blobs: BlobService,
        directory: Path,
        clock: Callable[[], datetime],
        claims: Claims,
        *,
        expiry_seconds: float,
        max_in_progress: int,
    ) -> None:
        self._db = db
        self._claims = claims
        self._blobs = blobs
        self.directory = directory
        self._clock = clock
        self._expiry = timedelta(seconds=expiry_seconds)
        self._max_in_progress = max_in_progress
        self._running = RunningHashes()
        # Whether partial files are written around the page cache (not on tmpfs).
        self.direct = worth_it(directory)

    @property
    def max_size(self) -> int:
        return self._blobs.max_size

    def path_of(self, upload_id: str) -> Path:
        return self.directory / upload_id

    # --- what a client does -------------------------------------------------------------------

    def create(
        self, actor: Principal, length: int, *, metadata: str | None, expected: str | None
    ) -> UploadState:
        """A new upload of ``length`` bytes; ``expected`` is the sha256 the client declares
        for them (checked when they are all there). ``metadata`` is kept as sent. An
        upload of no bytes is finished at once."""
        user_id = require_uploader(actor)
        if length > self.max_size:
            raise TooLarge(
                f"an upload of {length} bytes exceeds the limit of {self.max_size} bytes"
            )
        if expected is not None:
            validate_digest(expected)
        self.reclaim(limit=SWEEP)
        now = self._clock()
        upload = _Upload(secrets.token_hex(16), user_id, length, 0, metadata, expected, None, now)
        with self._db.write() as session:
            unfinished = session.scalar(self._unfinished(now).where(Row.user_id == user_id))
            if (unfinished or 0) >= self._max_in_progress:
                raise Forbidden(
                    f"you have {unfinished} unfinished uploads, the most one may have "
                    f"(max_uploads_in_progress = {self._max_in_progress}): finish or "
                    "terminate some first"
                )
            session.add(
                Row(
                    id=upload.id,
                    user_id=user_id,
                    length=length,
                    received=0,
                    upload_metadata=metadata,
                    expected=expected,
                    created=now,
                    touched=now,
                )
            )
        if length == 0:
            return self.begin(actor, upload.id, 0).finish()
        return self._state(upload)

    def in_progress(self) -> int:
        """How many uploads, of everyone, are unfinished and not expired (a figure for the
        operator's metrics)."""
        with self._db.read() as session:
            return session.scalar(self._unfinished(self._clock())) or 0

    def _unfinished(self, now: datetime) -> Select[int]:
        """Counts the uploads that are unfinished and not expired at ``now``."""
        return (
            select(func.count())
            .select_from(Row)
            .where(Row.digest.is_(None), Row.touched >= now - self._expiry)
        )

    def state(self, actor: Principal, upload_id: str) -> UploadState:
        """Where an upload stands. One whose bytes are all durable but that a failure kept
        from becoming a blob is finished now, unless a request is at it already."""
        upload = self._owned(actor, upload_id)
        if upload.received == upload.length and upload.digest is None:
            try:
                return self.begin(actor, upload_id, upload.length).finish()
            except Conflict:
                pass  # a request is finishing it: it stands as it was
        return self._state(upload)

    def begin(
        self,
        actor: Principal,
        upload_id: str,
        offset: int,
        *,
        checksum: Checksum | None = None,
        declared: int | None = None,
    ) -> Patch:
        """Start one request's bytes for an upload, to be appended at ``offset``, which
        must be the upload's: ``Conflict`` otherwise, or while another request writes to
        it. ``declared`` is the body's length, when the request says it (refused at once
        if it would pass the upload's length). The caller ends the ``Patch`` it gets
        (``finish``, ``keep`` or ``discard``), which releases the upload."""
        upload = self._owned(actor, upload_id)
        self._check_offset(upload, offset)
        room = upload.length - upload.received
        if declared is not None and declared > room:
            raise Invalid(
                f"a body of {declared} bytes goes past the upload's length: "
                f"{room} of its {upload.length} bytes are still to come"
            )
        if upload.digest is not None:  # finished: nothing to write, nothing to hold
            return Patch(self, actor, upload, None, checksum)
        self.directory.mkdir(parents=True, exist_ok=True)
        # All its bytes recorded, the file may be its blob already (linked into the store,
        # read-only): opened for reading only, to finish it. One of no bytes may have none.
        writing = room > 0
        fd = lock_partial(self.path_of(upload_id), create=writing or upload.length == 0)
        if fd is None:
            raise ServerFault(f"the partial file of upload {upload_id} is gone")
        try:
            # Under the lock: what the writer before us recorded, and what it left.
            upload = self._owned(actor, upload_id)
            self._check_offset(upload, offset)
            size = os.fstat(fd).st_size
            if size < upload.received:
                raise ServerFault(
                    f"the partial file of upload {upload_id} holds {size} bytes, fewer "
                    f"than the {upload.received} recorded: someone removed them"
                )
            if writing and size > upload.received:
                os.ftruncate(fd, upload.received)  # never recorded: not to be kept
        except BaseException:
            os.close(fd)
            if not self._exists(upload_id):  # terminated meanwhile: our open made the file
                self.path_of(upload_id).unlink(missing_ok=True)
            raise
        return Patch(self, actor, upload, fd, checksum)

    def terminate(self, actor: Principal, upload_id: str) -> None:
        """Remove an upload and its bytes (a blob it became stays)."""
        self._owned(actor, upload_id)
        self._remove(upload_id)

    # --- reclaiming ---------------------------------------------------------------------------

    def reclaim(self, limit: int | None = None, *, dry_run: bool = False) -> ReclaimReport:
        """Remove expired uploads, their rows and their bytes: the ``limit`` that expired
        first, or all of them and also the partial files whose row is gone (a crash
        between removing the two). One a request is writing to is left for next time.
        A sweep of ``limit`` is skipped while another process reclaims; all of them waits
        for it. ``dry_run`` removes nothing and reports what would go now (unclaimed: it
        changes nothing, so it may run beside a reclaim)."""
        if dry_run:
            return self._reclaim_expired(limit, dry_run=True)
        with self._claims.hold(RECLAIM, wait=limit is None) as mine:
            if not mine:
                return ReclaimReport(0, 0, 0)
            return self._reclaim_expired(limit)

    def _reclaim_expired(self, limit: int | None, *, dry_run: bool = False) -> ReclaimReport:
        cutoff = self._clock() - self._expiry
        query = select(Row.id).where(Row.touched < cutoff).order_by(Row.touched)
        with self._db.read() as session:
            expired = list(session.scalars(query if limit is None else query.limit(limit)))
        if dry_run:
            sizes = [self._partial_size(upload_id) for upload_id in expired]
            return ReclaimReport(len(expired), sum(sizes), len(self._orphan_names()))
        removed = freed = 0
        for upload_id in expired:
            size = self._reclaim(upload_id, cutoff)
            if size is not None:
                removed += 1
                freed += size
        orphans = self._remove_orphans() if limit is None else 0
        return ReclaimReport(removed, freed, orphans)

    def _reclaim(self, upload_id: str, cutoff: datetime) -> int | None:
        """Bytes freed by removing one expired upload; None if it was not removed (a
        request is writing to it, or brought it back to life meanwhile)."""
        path = self.path_of(upload_id)
        try:
            fd = lock_partial(path, create=False)
        except Conflict:
            return None
        try:
            with self._db.write() as session:
                gone = session.execute(
                    delete(Row).where(Row.id == upload_id, Row.touched < cutoff)
                ).rowcount  # type: ignore[attr-defined]
            if not gone:
                return None
            self._running.forget(upload_id)
            size = os.fstat(fd).st_size if fd is not None else 0
            path.unlink(missing_ok=True)
            return size
        finally:
            if fd is not None:
                os.close(fd)

    def _remove_orphans(self) -> int:
        return sum(self._remove_orphan(name) for name in self._orphan_names())

    def _orphan_names(self) -> list[str]:
        """The partial files in the directory whose upload has no row."""
        try:
            names = [entry.name for entry in self.directory.iterdir()]
        except FileNotFoundError:
            return []
        candidates = [name for name in names if UPLOAD_ID.fullmatch(name)]
        orphans: list[str] = []
        for chunk in batches(candidates):
            with self._db.read() as session:
                known = set(session.scalars(select(Row.id).where(Row.id.in_(chunk))))
            orphans.extend(name for name in chunk if name not in known)
        return orphans

    def _partial_size(self, upload_id: str) -> int:
        try:
            return self.path_of(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def _remove_orphan(self, name: str) -> int:
        try:
            fd = lock_partial(self.path_of(name), create=False)
        except Conflict:
            return 0  # a request holds it: its row went while it wrote, and it ends soon
        if fd is None:
            return 0
        try:
            if self._exists(name):  # made between the listing and now
                return 0
            self.path_of(name).unlink(missing_ok=True)
            return 1
        finally:
            os.close(fd)

    # --- the parts ----------------------------------------------------------------------------

    def _state(self, upload: _Upload) -> UploadState:
        return UploadState(
            upload.id,
            upload.length,
            upload.received,
            upload.metadata,
            upload.touched + self._expiry,
            upload.digest,
        )

    def _owned(self, actor: Principal, upload_id: str) -> _Upload:
        """The actor's upload, if it is theirs and has not expired; to anyone else it
        does not exist (admins included: an upload is its creator's alone)."""
        user_id = require_uploader(actor)
        missing = NotFound(f"no upload {upload_id} of yours")
        if not UPLOAD_ID.fullmatch(upload_id):
            raise missing
        with self._db.read() as session:
            found = session.execute(select(*_COLUMNS).where(Row.id == upload_id)).first()
        if found is None or found.user_id != user_id:
            raise missing
        upload = _Upload(*found)
        expires = upload.touched + self._expiry
        if self._clock() >= expires:
            when = f"{expires:%Y-%m-%d %H:%M:%S}"
            raise NotFound(f"upload {upload_id} expired at {when} UTC: start a new one")
        return upload

    def _exists(self, upload_id: str) -> bool:
        with self._db.read() as session:
            return session.scalar(select(Row.id).where(Row.id == upload_id)) is not None

    @staticmethod
    def _check_offset(upload: _Upload, offset: int) -> None:
        if offset != upload.received:
            raise Conflict(
                f"upload {upload.id} is at offset {upload.received}, not {offset}: send "
                f"the bytes from {upload.received} on"
            )

    def _record(self, upload: _Upload, received: int) -> _Upload:
        """Record that the file's first ``received`` bytes are durable (they are fsynced)."""
        now = self._clock()
        with self._db.write() as session:
            done = session.execute(
                update(Row)
                .where(Row.id == upload.id, Row.received == upload.received)
                .values(received=received, touched=now)
            ).rowcount  # type: ignore[attr-defined]
        if not done:
            raise NotFound(f"upload {upload.id} was terminated while its bytes came")
        return replace(upload, received=received, touched=now)

    def _complete(
        self, actor: Principal, upload: _Upload, running: hashlib._Hash | None
    ) -> _Upload:
        """Make an upload whose bytes are all durable (and recorded) a blob (see the
        module docstring). The caller holds the upload's lock."""
        path = self.path_of(upload.id)
        digest = running.hexdigest() if running is not None else hash_partial(path, upload.length)
        if upload.expected is not None and digest != upload.expected:
            self._remove(upload.id)
            raise DigestMismatch(
                f"the upload's bytes have sha256 {digest}, not the declared "
                f"{upload.expected}: it is refused, and its bytes are gone"
            )
        stored = self._blobs.adopt_file(path, upload.length, digest)
        with self._db.write() as session:
            self._blobs.save_in(session, actor, stored)
            done = session.execute(
                update(Row).where(Row.id == upload.id).values(digest=digest)
            ).rowcount  # type: ignore[attr-defined]
            if not done:
                raise NotFound(f"upload {upload.id} was terminated while it finished")
        path.unlink(missing_ok=True)
        self._running.forget(upload.id)
        return replace(upload, digest=digest)

    def _remove(self, upload_id: str) -> None:
        with self._db.write() as session:
            session.execute(delete(Row).where(Row.id == upload_id))
        self._running.forget(upload_id)
        self.path_of(upload_id).unlink(missing_ok=True)


class Patch:
    """One request's bytes for an upload, appended to its partial file, which this holds
    open and locked from ``UploadService.begin`` until ``finish``, ``keep`` or
    ``discard`` ends it. ``write_pieces`` takes the bytes as they come (in a worker
    thread, one call at a time); nothing past the upload's length is ever written.

    A write and the end never overlap (``_guard``): an end waits for the write under way,
    and a write that comes after the end is refused. So a request cancelled in the middle
    of a write (a server that stops) can be ended from any thread."""

    def __init__(
        self,
        service: UploadService,
        actor: Principal,
        upload: _Upload,
        fd: int | None,
        checksum: Checksum | None,
    ) -> None:
        self._service = service
        self._actor = actor
        self._upload = upload
        self._fd = fd
        self._checksum = checksum
        self._room = upload.length - upload.received
        self._guard = threading.Lock()
        self._ended = False
        self.written = 0
        # This request's own digest, if it carries a checksum, and the whole upload's,
        # if this process knows it up to here.
        self._chunk = CHECKSUMS[checksum.algorithm]() if checksum is not None else None
        self._running = service._running.get(upload.id, upload.received) if fd is not None else None
        self._sink = (
            PartialWriter(fd, upload.received, direct=service.direct) if fd is not None else None
        )

    @property
    def ended(self) -> bool:
        return self._ended

    def write_pieces(self, pieces: Sequence[ByteBuffer]) -> None:
        with self._guard:
            if self._ended:
                raise Invalid("this request's part of the upload has ended")
            self._write(pieces)

    def _write(self, pieces: Sequence[ByteBuffer]) -> None:
        size = sum(len(piece) for piece in pieces)
        if self.written + size > self._room:
            upload = self._upload
            raise Invalid(
                f"the body goes past the upload's length of {upload.length} bytes "
                f"(it is at offset {upload.received}): nothing of it is kept"
            )
        if not size:
            return
        assert self._fd is not None  # room to write: the upload is not finished
        hashing = hash_beside([h for h in (self._chunk, self._running) if h is not None], pieces)
        try:
            assert self._sink is not None
            with space_checked(BLOB_STORE):
                for piece in pieces:
                    self._sink.write(piece)
        finally:
            wait_all(hashing)
        self.written += size

    def finish(self) -> UploadState:
        """The body is all here: check this request's checksum, make its bytes durable
        and record them; and finish the upload if they were its last. Ends it."""
        with self._guard:
            assert not self._ended, "a request's part of an upload ends once"
            try:
                checksum = self._checksum
                if self._chunk is not None and checksum and self._chunk.digest() != checksum.digest:
                    self._truncate()
                    raise ChecksumMismatch(
                        f"this request's bytes do not match its {checksum.algorithm} "
                        "checksum: nothing of them is kept, the upload is still at offset "
                        f"{self._upload.received}"
                    )
                return self._conclude()
            finally:
                self._end()

    def keep(self, queued: Sequence[ByteBuffer] = ()) -> UploadState | None:
        """The body broke off (the client went away, or the server stops): what arrived
        is made durable and recorded, ``queued`` (bytes that came after the last write)
        too, so that the client can resume from there; unless the request carried a
        checksum, which a part cannot be checked against: then nothing is kept. Ends it,
        if nothing else has."""
        with self._guard:
            if self._ended:
                return None
            try:
                if self._checksum is not None:
                    self._truncate()
                    return None
                with suppress(LoftError):  # what fits is kept all the same
                    self._write(queued)
                return self._conclude()
            finally:
                self._end()

    def discard(self) -> None:
        """Nothing of this request's bytes is kept (it failed): the upload stays where it
        was. Ends it, if nothing else has."""
        with self._guard:
            if self._ended:
                return
            try:
                self._truncate()
            finally:
                self._end()

    def _conclude(self) -> UploadState:
        service, upload = self._service, self._upload
        if self.written:
            assert self._fd is not None
            try:
                with space_checked(BLOB_STORE):
                    assert self._sink is not None
                    self._sink.flush()
                    os.fsync(self._fd)
            except BaseException:
                self._truncate()
                raise
            upload = service._record(upload, upload.received + self.written)
            if self._running is not None:
                service._running.keep(upload.id, upload.received, self._running)
        if upload.received == upload.length and upload.digest is None:
            upload = service._complete(self._actor, upload, self._running)
        return service._state(upload)

    def _truncate(self) -> None:
        if self._sink is not None:
            self._sink.abandon()  # no gathered byte reaches the file after this
        if self._fd is not None and self.written:
            with suppress(OSError):  # a failure here is no loss: the next writer truncates
                os.ftruncate(self._fd, self._upload.received)
            self.written = 0

    def _end(self) -> None:
        self._ended = True
        if self._sink is not None:
            self._sink.abandon()
            self._sink = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
