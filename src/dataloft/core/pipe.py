"""A pipe between two threads: the bytes of an upload, handed from the thread that
receives (or writes) them to the thread that reads them as a stream (a tar reader), at
most ``depth`` batches ahead, so that an upload is read while it arrives and memory stays
bounded. Pbench's tarball indexer and the blob batch reader both read through one."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

from dataloft.storage.base import ByteBuffer

T = TypeVar("T")

# How often a blocked writer looks whether the reader has gone.
_WAKE_SECONDS = 0.05


class Pipe:
    """An upload's bytes, handed from the thread that writes them (``put``, an upload's
    tee) to the thread that indexes them (``read``), at most ``depth`` batches ahead, so
    that a tarball is indexed while it arrives and memory stays bounded.

    The reader ``close``s it when it is done, with the error that stopped it if one did:
    from then on ``put`` raises that error (so the upload stops at once) or, after a
    reader that finished, throws the bytes away (what follows a tar archive's end)."""

    def __init__(self, depth: int = 1) -> None:
        self._batches: queue.Queue[Sequence[ByteBuffer] | None] = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._error: BaseException | None = None
        self._pieces: deque[memoryview] = deque()
        self._ended = False

    def put(self, pieces: Sequence[ByteBuffer]) -> None:
        self._offer(pieces)

    def end(self) -> None:
        """No more bytes (the body is complete, or the upload failed)."""
        self._offer(None)

    def _offer(self, batch: Sequence[ByteBuffer] | None) -> None:
        while not self._closed.is_set():
            try:
                self._batches.put(batch, timeout=_WAKE_SECONDS)
                return
            except queue.Full:
                continue
        if self._error is not None and batch is not None:
            raise self._error

    def read(self, n: int, /) -> bytes:
        while not self._pieces:
            if self._ended:
                return b""
            batch = self._batches.get()
            if batch is None:
                self._ended = True
                return b""
            self._pieces.extend(memoryview(piece) for piece in batch if len(piece))
        piece = self._pieces[0]
        taken = piece[:n]
        if len(piece) > n:
            self._pieces[0] = piece[n:]
        else:
            self._pieces.popleft()
        return bytes(taken)

    def close(self, error: BaseException | None = None) -> None:
        self._error = error
        self._closed.set()


def read_through(pipe: Pipe, reader: Callable[[Pipe], T]) -> T:
    """``reader(pipe)``, closing the pipe however it ends: with the reader's error if it
    failed, so the writer stops at once."""
    try:
        result = reader(pipe)
    except BaseException as error:
        pipe.close(error)
        raise
    pipe.close()
    return result
