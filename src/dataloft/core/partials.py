"""The partial file of a resumable upload (``core/uploads.py``): how a writer holds it
alone, how it is hashed again, what a process remembers of the hash of what it wrote, and
the checksums a request's bytes may carry."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataloft.bounded import put_bounded
from dataloft.core.errors import Conflict, ServerFault
from dataloft.storage.base import ByteBuffer
from dataloft.storage.direct import ALIGN, DirectWriter

# Checksums a request's bytes may carry (tus's checksum extension), by the names tus uses:
# sha256 is ours; tus requires every server to take sha1, which its clients default to.
CHECKSUMS: dict[str, Callable[[], hashlib._Hash]] = {
    "sha256": hashlib.sha256,
    "sha1": hashlib.sha1,
}
_READ = 4 * 1024 * 1024  # a partial file is hashed again in reads this large
_FILE_MODE = 0o600


@dataclass(frozen=True)
class Checksum:
    """What one request's bytes must hash to: an algorithm of ``CHECKSUMS`` and its raw
    digest."""

    algorithm: str
    digest: bytes


class RunningHashes:
    """The sha256 of each upload's first ``offset`` bytes, as this process saw them
    written: an upload sent through one process is hashed once, as it arrives, and not
    read again to finish it. A hash counts only at the offset it was taken at (offsets
    only grow, and bytes below a recorded offset never change), so writes that another
    process took in between make it miss, never mislead. Each taker gets a copy."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[str, tuple[int, hashlib._Hash]] = {}

    def get(self, upload_id: str, offset: int) -> hashlib._Hash | None:
        if offset == 0:
            return hashlib.sha256()
        with self._lock:
            kept = self._hashes.get(upload_id)
            return kept[1].copy() if kept is not None and kept[0] == offset else None

    def keep(self, upload_id: str, offset: int, running: hashlib._Hash) -> None:
        with self._lock:
            self._hashes.pop(upload_id, None)  # re-inserted: the newest go last
            put_bounded(self._hashes, upload_id, (offset, running), self.LIMIT)

    def forget(self, upload_id: str) -> None:
        with self._lock:
            self._hashes.pop(upload_id, None)


def lock_partial(path: Path, *, create: bool) -> int | None:
    """``path`` opened and exclusively locked (``flock``): its descriptor, which the caller
    closes (closing unlocks); None if it does not exist and ``create`` is false.
    ``Conflict`` if another writer holds it."""
    flags = (os.O_WRONLY | os.O_CREAT if create else os.O_RDONLY) | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, _FILE_MODE)
    except FileNotFoundError:
        if create:
            raise
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Conflict(
            f"another request is writing to upload {path.name}: wait for it to end, then "
            "ask for the offset (HEAD) and resume from there"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def hash_partial(path: Path, length: int) -> str:
    """The sha256 of the first ``length`` bytes of ``path``, read back."""
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as file:
        left = length
        while left:
            chunk = file.read(min(_READ, left))
            if not chunk:
                raise ServerFault(f"the partial file of upload {path.name} lost bytes")
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


class PartialWriter:
    """One request's bytes into a partial file, from ``offset`` on. The bulk goes around
    the page cache (``storage/direct.py``) where the file system is ``direct``-worthy: the
    bytes before the next ``ALIGN`` boundary are written as they are, then the rest is
    gathered and written a MiB at a time, as the blob store writes a ``PUT``'s body. A
    1 GiB PATCH took 2.6 to 3.4 s buffered, twice a ``PUT`` of the same bytes, most of it
    copying into fresh cache pages and writing them out at the fsync.

    What is gathered reaches the file at ``flush``, which comes before every fsync;
    ``abandon`` drops it (the bytes are not to be kept) once no write is in flight."""

    def __init__(self, fd: int, offset: int, *, direct: bool) -> None:
        self._fd = fd
        self._at = offset
        self._direct = direct
        self._writer: DirectWriter | None = None

    def write(self, piece: ByteBuffer) -> None:
        view = memoryview(piece).cast("B")
        if self._writer is None and self._direct:
            head = min(-self._at % ALIGN, len(view))
            self._at = write_at(self._fd, view[:head], self._at)
            view = view[head:]
            if not view:
                return
            os.lseek(self._fd, self._at, os.SEEK_SET)
            writer = DirectWriter(self._fd)
            if writer.direct:
                self._writer = writer
            else:  # the file system refuses O_DIRECT: buffered from here on
                writer.release()
                self._direct = False
        if self._writer is not None:
            self._writer.write(view)
            self._at += len(view)
        else:
            self._at = write_at(self._fd, view, self._at)

    def flush(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.finish()

    def abandon(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.release()


def write_at(fd: int, data: ByteBuffer, offset: int) -> int:
    """Write all of ``data`` at ``offset``; the offset after it."""
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
    return offset
