"""Iterators of bytes that may hold a resource, and the one rule for letting it go.

A blob is read as an iterator of chunks, and that iterator may hold an open file from the
moment it is made (an archive's stream holds its current member's reader and its records
spool too). Garbage collection is no way to release them: a download abandoned by its
client leaves its body iterator suspended, and the frames that hold it often sit in a
reference cycle (a cancelled task's traceback, for one), so the file stays open until the
cyclic collector happens to run; with many aborted downloads a server runs out of
descriptors first. So whoever takes such an iterator closes it, when it stops early too:

- ``Chunks`` is the type of an iterator that must be closed. Running to its end releases
  what it holds as well; ``close`` may be called any number of times, and no chunk
  follows it. A generator is ``Chunks`` (its ``close`` runs its ``finally`` and ``with``
  blocks) provided it takes hold of nothing before its first chunk: a generator closed
  before it started runs none of its body.
- Code that accepts any iterable (an archive's members, a response body) releases it with
  ``close_iterator`` or ``closing_iterator``, the rule PEP 3333 set for WSGI bodies: call
  ``close`` if there is one, so that lists and plain iterators pass too.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

T = TypeVar("T")


class Chunks(Iterator[bytes], Protocol):
    """An iterator of bytes that may hold a resource until it ends or is closed."""

    def close(self) -> None:
        """Release what the iterator holds; it yields nothing more. Idempotent."""


def memory_chunks(data: bytes, start: int, end: int | None, chunk_size: int) -> Chunks:
    """The bytes ``[start, end)`` of ``data`` in pieces of ``chunk_size``: nothing to release,
    but closable like every reader, so callers need no second way."""
    stop = len(data) if end is None else min(end, len(data))
    return (data[i : min(i + chunk_size, stop)] for i in range(start, stop, chunk_size))


def close_iterator(items: Iterable[T]) -> None:
    """Release what ``items`` holds, if it can hold anything (it has a ``close``)."""
    close = getattr(items, "close", None)
    if close is not None:
        close()


@contextmanager
def closing_iterator(items: Iterable[T]) -> Iterator[Iterator[T]]:
    """Iterate ``items`` in a ``with`` block that closes them however it is left: at the end,
    on an error, or when the generator running the block is itself closed."""
    iterator = iter(items)
    try:
        yield iterator
    finally:
        close_iterator(iterator)


def gzip_chunks(chunks: Iterable[bytes], level: int) -> Chunks:
    """The gzip stream (RFC 1952) of ``chunks``, compressed as they come: only zlib's
    window and pending block are held, never the whole. Its header holds no time, so the
    same chunks always give the same bytes. Closing it closes ``chunks``."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
    with closing_iterator(chunks) as pieces:
        for piece in pieces:
            packed = compressor.compress(piece)
            if packed:  # zlib keeps small inputs until it has a block to write
                yield packed
    yield compressor.flush()


def coalesced(chunks: Iterable[bytes], size: int) -> Chunks:
    """``chunks`` joined into pieces of at least ``size`` bytes (the last may be smaller):
    a stream of many small chunks (one per record) then costs one send, and one hop to a
    worker thread, per piece rather than per chunk. Closing it closes ``chunks``."""
    pending: list[bytes] = []
    held = 0
    with closing_iterator(chunks) as pieces:
        for piece in pieces:
            pending.append(piece)
            held += len(piece)
            if held >= size:
                yield b"".join(pending)
                pending.clear()
                held = 0
    if held:
        yield b"".join(pending)
