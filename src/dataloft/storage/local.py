"""Blobs as files under one directory: ``<root>/ab/cd/<digest>``.

Bytes are staged in ``<root>/tmp`` (same filesystem, so the final rename is atomic),
fsynced, then renamed into place and the directory fsynced. A crash therefore leaves at
worst a stray file in ``tmp``, never a visible half-written blob.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from io import FileIO
from pathlib import Path

from dataloft.storage.base import DEFAULT_CHUNK, BlobMissing

_DIGEST = re.compile(r"[0-9a-f]{64}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Large uploads start writeback every so often on a background thread, so that the disk
# works while the rest of the body still arrives and the final fsync only flushes the tail.
SYNC_EVERY = 32 * 1024 * 1024
_SYNCER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="blob-sync")


class _LocalStaged:
    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(prefix="stage-", dir=store.staging_dir)
        self._fd: int | None = fd
        self._temp = Path(name)
        self._unsynced = 0
        self._syncing: Future[None] | None = None

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError("staged blob already finished")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._unsynced += len(data)
        if self._unsynced >= SYNC_EVERY and (self._syncing is None or self._syncing.done()):
            self._syncing = _SYNCER.submit(os.fdatasync, self._fd)
            self._unsynced = 0

    def _settle(self) -> None:
        """Wait for a background sync: the descriptor must not close under it."""
        if self._syncing is not None:
            with contextlib.suppress(OSError):
                self._syncing.result()
            self._syncing = None

    def publish(self, digest: str) -> None:
        if self._fd is None:
            raise ValueError("staged blob already finished")
        target = self._store.path_of(digest)
        self._settle()
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        if target.exists():
            # Identical content is already stored: keep it, but mark it fresh so that an
            # orphan scan does not remove it while our caller commits a reference to it.
            with contextlib.suppress(FileNotFoundError):
                os.utime(target)
                self._temp.unlink(missing_ok=True)
                return
        self._store.ensure_shard(target.parent)
        self._temp.chmod(0o444)
        self._temp.replace(target)
        _fsync_dir(target.parent)

    def abort(self) -> None:
        self._settle()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._temp.unlink(missing_ok=True)


class LocalBlobStore:
    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root
        self.url = url or f"file://{root}"
        self.staging_dir = root / "tmp"
        self.staging_dir.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise BlobMissing(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def ensure_shard(self, shard: Path) -> None:
        if shard.is_dir():
            return
        shard.mkdir(parents=True, exist_ok=True)
        _fsync_dir(shard.parent)
        _fsync_dir(shard.parent.parent)

    def stage(self) -> _LocalStaged:
        return _LocalStaged(self)

    def exists(self, digest: str) -> bool:
        try:
            return self.path_of(digest).is_file()
        except BlobMissing:
            return False

    def size(self, digest: str) -> int:
        try:
            return self.path_of(digest).stat().st_size
        except FileNotFoundError:
            raise BlobMissing(digest) from None

    def read(
        self, digest: str, start: int = 0, end: int | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> Iterator[bytes]:
        try:
            handle = self.path_of(digest).open("rb", buffering=0)
        except FileNotFoundError:
            raise BlobMissing(digest) from None
        return self._read_open(handle, start, end, chunk_size)

    @staticmethod
    def _read_open(handle: FileIO, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
        with handle as f:
            f.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                want = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = f.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def local_path(self, digest: str) -> Path | None:
        return self.path_of(digest)

    def modified(self, digest: str) -> float:
        try:
            return self.path_of(digest).stat().st_mtime
        except FileNotFoundError:
            raise BlobMissing(digest) from None

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError, BlobMissing):
            self.path_of(digest).unlink()

    def digests(self) -> Iterator[str]:
        for shard in sorted(self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]")):
            for entry in shard.iterdir():
                if _DIGEST.fullmatch(entry.name):
                    yield entry.name

    def clean_staging(self, older_than_seconds: float) -> int:
        """Remove staged files abandoned by crashed uploads; returns how many."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.staging_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
        return removed
