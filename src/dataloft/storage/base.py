"""The blob store Protocol.

A store keeps immutable byte strings under their lowercase-hex sha256 digest. It does not
hash: the caller streams bytes into a ``StagedBlob``, hashes them on the way (see
``dataloft.core.blobs``) and then publishes the staged bytes under the digest it computed.
Until ``publish`` returns nothing is visible; publishing a digest that already exists keeps
the stored bytes and only refreshes ``modified``, which is what makes uploads of duplicate
content free.

Garbage collection and uploads of the same bytes may run at the same moment. The two meet
in ``publish`` and ``delete(digest, before=...)``, whose contract is what keeps that safe:
a ``publish`` that has returned has left the blob in the store with ``modified`` no earlier
than the moment the publish began, and a conditional ``delete`` removes only a blob whose
``modified`` is still before ``before`` at the instant it is removed (atomically, as far as
``publish`` can tell). So a collector that deletes with ``before`` set to its start time
minus the grace period cannot remove bytes that an upload began publishing after that.

``read`` hands out ``Chunks``: the reader may hold the blob open from the moment ``read``
returns (so a missing blob fails before a response starts), and whoever takes it closes it
(see ``dataloft.storage.chunks``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from dataloft.storage.chunks import Chunks

DEFAULT_CHUNK = 1024 * 1024

# What a write accepts: any contiguous bytes (an upload hands over views of the request's
# chunks, and its own bytearray). Writers keep no reference to it once the write returns.
ByteBuffer = bytes | bytearray | memoryview


class BlobMissing(KeyError):
    """The store has no blob with that digest."""


class StoreUnavailable(Exception):
    """The store cannot be used now: it did not answer, or refused the server (a network
    store down, or credentials it no longer takes). The operator's to fix, not the
    request's fault: servers answer 503."""


class StagedBlob(Protocol):
    def write(self, data: ByteBuffer) -> None:
        """Append bytes to the staged blob; ``data`` may be reused once this returns."""

    def publish(self, digest: str) -> None:
        """Make the staged bytes durable and visible under ``digest``."""

    def abort(self) -> None:
        """Throw the staged bytes away. Safe to call more than once, or after publish."""


class BlobStore(Protocol):
    url: str

    def stage(self) -> StagedBlob:
        """Start writing a new blob whose digest is not known yet."""

    def adopt(self, path: Path, digest: str) -> bool:
        """Publish the file at ``path`` (whole, fsynced, and hashing to ``digest``) as that
        blob without copying its bytes, if the store can take the file itself: True when
        the blob is then stored, as after a ``publish``. The file may then be the stored
        blob itself: the caller must not change it again, only remove its name. False: the
        store cannot (another file system, no files at all), and the caller stages the
        bytes as usual."""

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int:
        """Size in bytes; raises ``BlobMissing``."""

    def read(
        self, digest: str, start: int = 0, end: int | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> Chunks:
        """A reader of the bytes ``[start, end)`` of a blob, which the caller closes (also
        when it stops early); raises ``BlobMissing`` now, not at the first chunk."""

    def local_path(self, digest: str) -> Path | None:
        """A filesystem path holding the blob, if the store has one (lets servers sendfile)."""

    def modified(self, digest: str) -> float:
        """When the blob was last written or re-published (epoch seconds); ``BlobMissing``."""

    def delete(self, digest: str, *, before: float | None = None) -> bool:
        """Remove a blob; True if this call removed it, False if it was missing (ignored).

        With ``before`` (epoch seconds), only a blob last written or re-published before
        then: one that a ``publish`` refreshed at or after ``before`` is kept (False), even
        when that ``publish`` runs concurrently with this call. A store may keep a blob
        modified a little before ``before`` too (file-system timestamps are coarse): keeping
        is always safe. Without ``before`` the blob goes unconditionally, and a concurrent
        ``publish`` of the same digest may lose its bytes: only for callers that know no
        upload can be under way."""

    def digests(self) -> Iterator[str]:
        """Every digest in the store, in no particular order."""

    def check(self) -> None:
        """Raise (any exception, with a short message) unless the store can be used now: a
        cheap question for a readiness probe, asked every few seconds (a local directory
        that exists and takes new files; an S3 bucket that answers a HEAD)."""
