"""A blob store in a dict. For tests and throwaway servers: nothing survives the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from dataloft.storage.base import DEFAULT_CHUNK, BlobMissing, ByteBuffer
from dataloft.storage.chunks import Chunks, memory_chunks


class _MemoryStaged:
    def __init__(self, store: MemoryBlobStore) -> None:
        self._store = store
        self._buffer: bytearray | None = bytearray()

    def write(self, data: ByteBuffer) -> None:
        if self._buffer is None:
            raise ValueError("staged blob already finished")
        self._buffer += data

    def publish(self, digest: str) -> None:
        if self._buffer is None:
            raise ValueError("staged blob already finished")
        # Under the store's lock, like ``delete``: a conditional delete either ran before
        # (and we store our bytes afresh) or after (and sees the refreshed time).
        with self._store.lock:
            self._store.blobs.setdefault(digest, bytes(self._buffer))
            self._store.times[digest] = time.time()
        self._buffer = None

    def abort(self) -> None:
        self._buffer = None


class MemoryBlobStore:
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self.blobs: dict[str, bytes] = {}
        self.times: dict[str, float] = {}
        self.lock = threading.Lock()

    def stage(self) -> _MemoryStaged:
        return _MemoryStaged(self)

    def adopt(self, path: Path, digest: str) -> bool:
        return False  # no files here: the bytes are staged like any others

    def exists(self, digest: str) -> bool:
        return digest in self.blobs

    def size(self, digest: str) -> int:
        return len(self._get(digest))

    def read(
        self, digest: str, start: int = 0, end: int | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> Chunks:
        return memory_chunks(self._get(digest), start, end, chunk_size)

    def local_path(self, digest: str) -> Path | None:
        return None

    def modified(self, digest: str) -> float:
        try:
            return self.times[digest]
        except KeyError:
            raise BlobMissing(digest) from None

    def delete(self, digest: str, *, before: float | None = None) -> bool:
        with self.lock:
            if digest not in self.blobs:
                return False
            if before is not None and self.times[digest] >= before:
                return False  # re-published since: keep it
            del self.blobs[digest]
            del self.times[digest]
            return True

    def digests(self) -> Iterator[str]:
        with self.lock:
            return iter(list(self.blobs))

    def check(self) -> None:
        """Always usable: the store is this process's memory."""

    def _get(self, digest: str) -> bytes:
        try:
            return self.blobs[digest]
        except KeyError:
            raise BlobMissing(digest) from None
