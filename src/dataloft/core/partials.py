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
