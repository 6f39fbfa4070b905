"""Reading a stored blob back and proving it is what its name says: the sha256 and size of
its bytes (``dataloft fsck``), and copying it between stores while hashing (fsck's restore
from a backup, ``dataloft export`` and ``import``).

Only the ``BlobStore`` Protocol is used, so every store (files, memory, S3) is checked and
copied alike. Each blob is streamed in the store's chunks: memory stays one chunk per
blob in flight, whatever the blob's size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from dataloft.storage import BlobMissing, BlobStore
from dataloft.storage.chunks import closing_iterator

# Told the bytes of each chunk read (a progress meter's ``advance``).
Advance = Callable[[int], None]
T = TypeVar("T")
R = TypeVar("R")


def _ignore(count: int) -> None:
    pass


@dataclass(frozen=True)
class Measured:
    """What a stored blob's bytes really are."""

    digest: str
    size: int


class CorruptBlob(Exception):
    """A blob's bytes do not hash to its name, or are not its recorded size."""

    def __init__(self, digest: str, why: str) -> None:
        super().__init__(f"blob {digest}: {why}")
        self.digest = digest
        self.why = why


def why_corrupt(digest: str, size: int | None, measured: Measured) -> str | None:
    """What is wrong with bytes ``measured`` for a blob named ``digest`` of ``size`` bytes
    (None: the size is not known and need not match), or None if nothing is."""
    if size is not None and measured.size != size:
        return f"{measured.size} bytes stored, {size} recorded"
    if measured.digest != digest:
        return f"the bytes hash to {measured.digest}"
    return None


def measure(store: BlobStore, digest: str, advance: Advance = _ignore) -> Measured:
    """Read the stored blob whole and hash it; ``BlobMissing`` if it is not there."""
    hasher = hashlib.sha256()
    size = 0
    with closing_iterator(store.read(digest)) as chunks:
        for chunk in chunks:
            hasher.update(chunk)
            size += len(chunk)
            advance(len(chunk))
    return Measured(hasher.hexdigest(), size)


def copy_verified(
    source: BlobStore,
    target: BlobStore,
    digest: str,
    size: int | None,
    advance: Advance = _ignore,
) -> None:
    """Copy blob ``digest`` from ``source`` to ``target``, hashing the bytes on the way:
    they are published in ``target`` only if they hash to ``digest`` (and are ``size``
    bytes, if given); else nothing of them is kept and ``CorruptBlob`` says why.
    ``BlobMissing`` if ``source`` lacks the blob.

    Publishing a digest ``target`` holds already keeps the bytes there (the store
    Protocol): a caller replacing corrupt bytes deletes them first."""
    hasher = hashlib.sha256()
    copied = 0
    staged = target.stage()
    try:
        with closing_iterator(source.read(digest)) as chunks:
            for chunk in chunks:
                hasher.update(chunk)
                staged.write(chunk)
                copied += len(chunk)
                advance(len(chunk))
        why = why_corrupt(digest, size, Measured(hasher.hexdigest(), copied))
        if why is not None:
            raise CorruptBlob(digest, why)
        staged.publish(digest)
    finally:
        staged.abort()  # after a publish: nothing left to throw away


def in_parallel(
    work: Callable[[T], R], items: Iterable[T], jobs: int
) -> Iterator[tuple[T, Future[R]]]:
    """``work(item)`` for each of ``items`` on ``jobs`` threads (reads and hashes of
    different blobs overlap: hashlib and file and network I/O release the GIL), yielded
    as each finishes, with its future (whose ``result()`` raises what ``work`` raised).
    At most twice ``jobs`` items are taken from ``items`` ahead of the results, so a
    listing of millions of blobs is never held whole."""
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="blob-check") as pool:
        running: dict[Future[R], T] = {}
        for item in items:
            running[pool.submit(work, item)] = item
            if len(running) >= 2 * jobs:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield running.pop(future), future
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future


__all__ = [
    "Advance",
    "BlobMissing",
    "CorruptBlob",
    "Measured",
    "copy_verified",
    "in_parallel",
    "measure",
]
