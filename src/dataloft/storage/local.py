"""Blobs as files under one directory: ``<root>/ab/cd/<digest>``.

Bytes are staged in ``<root>/tmp`` (same filesystem, so the final link is atomic),
fsynced, then hard-linked into place and the directory fsynced. A crash therefore leaves at
worst a stray file in ``tmp``, never a visible half-written blob.

Deleting while others upload
----------------------------
Garbage collection deletes a blob's row, commits, and only then deletes its file. In
between, an upload of the same bytes may find the file, keep it, and register a new row:
the collector must then not remove the file. The store guarantees this with the file's
mtime as the blob's "last published" stamp, and two operations on the name ``target``:

publish (P), after the staged bytes are fsynced:
  P1. ``utime(target)``: stamp the stored copy with now. Success means that the inode
      named ``target`` at that instant carries a stamp from during this publish: done.
  P2. ``FileNotFoundError``: no copy at that instant. Stamp the staged file with now and
      ``link`` it to ``target`` (a link never replaces an existing name). Success: our
      own copy, stamped during this publish, is in place: done. ``FileExistsError``:
      another copy appeared meanwhile, whose stamp may be older than our start: go back
      to P1 and stamp it.
conditional delete (D), ``delete(digest, before=cutoff)``:
  D1. ``rename(target, trash/<digest>.<ns>.<random>)``: take the name away. From now on
      no publish can reach this inode (P1 resolves the name ``target``, which is gone
      or names another inode), so its stamp can no longer change.
  D2. ``stat`` the trash file. An mtime before ``cutoff`` (less a slack for coarse
      file-system clocks) means no publish refreshed it up to D1: unlink it. Otherwise
      put it back (D3).
  D3. ``link`` it back to ``target`` and unlink the trash name. If ``target`` exists
      again, a publish P2-linked its own copy while the name was gone; that copy was
      stamped after D1, hence no earlier than the copy we took away, so we drop ours.

Why no interleaving loses a published blob: the name ``target`` is bound only by a P2
link or a D3 link, both of which refuse to replace an existing name, and unbound only by
D1. A publish returns only after P1 stamped the bound inode, or its own P2 link bound
its freshly stamped copy; either way ``target`` then names an inode stamped no earlier
than the publish began. Stamps only grow (P1 sets "now"; nothing sets an older time).
A later D1 can take that inode away, but its D2 sees the stamp: if the stamp is at or
after ``cutoff`` the inode comes back in D3, or an inode stamped even later (a P2 copy
linked after D1) already holds the name. So D unlinks an inode only if it was stamped
before ``cutoff``: no publish that began at or after ``cutoff`` had returned with it in
place, and any publish still running when D1 took it finds the name free and binds its
own copy. The collector computes ``cutoff`` (now minus the grace period) before it
deletes any row, so every upload that registers a row after that deletion began its
publish after ``cutoff``, unless publishing and registering took longer than the grace
period (the same promise the grace period makes to clients that upload, then commit).

Readers that opened the file before D1 are unaffected (an open file outlives its name).
A read between D1 and D3 of a blob that was just re-published finds no file; that blob
had no row a moment before, so nothing referenced it until an instant ago.

A crash between D1 and D2/D3 leaves the file under ``trash``: every opening of the store
(and ``clean_staging``) puts trash entries older than a minute back (D3), which is always
safe: an extra file is an orphan that a later scan removes, never a loss.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from io import FileIO
from pathlib import Path

from dataloft.storage.base import DEFAULT_CHUNK, BlobMissing, ByteBuffer
from dataloft.storage.chunks import Chunks
from dataloft.storage.direct import ALIGN, DirectWriter, worth_it, write_all

_DIGEST = re.compile(r"[0-9a-f]{64}")
# Trash names: ``<digest>.<time in ns>.<random>`` (see the module docstring).
_TRASH = re.compile(r"([0-9a-f]{64})\.(\d+)\.[0-9a-f]+")
# File-system timestamps come from a coarse clock (a few ms on Linux, 2 s on FAT): a
# conditional delete keeps blobs stamped this little before its cutoff too.
MTIME_SLACK = 2.0
# A trash entry this old was left by a crashed delete, not one in progress (microseconds).
STALE_TRASH_SECONDS = 60.0
# Where hard links are not supported (FAT, some network file systems) errors from link.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


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
# Bytes of a blob written through the page cache before the rest goes around it
# (``storage/direct.py``); a multiple of its ``ALIGN``.
DIRECT_FROM = 1024 * ALIGN


def _link_new(source: Path, target: Path) -> None:
    """Give ``source``'s file the name ``target`` too; ``FileExistsError`` if that name
    exists (a link never replaces one). Where the file system has no hard links (FAT, some
    network file systems) it falls back to moving ``source`` there, after checking that
    the name is free: not atomic, but the bytes are the same (names are digests), and the
    worst case is a stamp that is older than it should be."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_LINKS:
            raise
        if target.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        source.replace(target)


class _LocalStaged:
    """A blob being written to a staging file: its first ``DIRECT_FROM`` bytes through the
    page cache as they come (a small blob is one write, and a full disk shows at once), the
    rest by a ``DirectWriter`` around it (``storage/direct.py``)."""

    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(prefix="stage-", dir=store.staging_dir)
        self._fd: int | None = fd
        self._temp = Path(name)
        self._written = 0
        self._unsynced = 0
        self._syncing: Future[None] | None = None
        self._direct: DirectWriter | None = None

    def write(self, data: ByteBuffer) -> None:
        if self._fd is None:
            raise ValueError("staged blob already finished")
        view = memoryview(data).cast("B")
        if (
            self._store.direct_writes
            and self._direct is None
            and self._written + len(view) > DIRECT_FROM >= self._written
        ):
            # Up to the (aligned) threshold buffered, then the rest direct if the file
            # system allows it.
            head = DIRECT_FROM - self._written
            self._write_buffered(view[:head])
            view = view[head:]
            writer = DirectWriter(self._fd)
            if writer.direct:
                self._direct = writer
            else:
                writer.release()
        if self._direct is None:
            self._write_buffered(view)
            return
        self._written += len(view)
        self._direct.write(view)

    def _write_buffered(self, view: memoryview) -> None:
        assert self._fd is not None
        write_all(self._fd, view)
        self._written += len(view)
        self._unsynced += len(view)
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
            if self._direct is not None:
                self._direct.finish()
            os.fsync(self._fd)
        finally:
            self._close()
        try:
            self._store.install(self._temp, target)
        finally:
            self._temp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._direct is not None:
            self._direct.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def abort(self) -> None:
        self._settle()
        self._close()
        self._temp.unlink(missing_ok=True)


class _FileChunks:
    """The bytes ``[start, end)`` of an open blob file, chunk by chunk (``Chunks``).

    It owns the file from the moment ``read`` opened it (so that a missing blob fails before
    a response starts) and closes it after the last byte, at the end of the file, or on
    ``close``. A class and not a generator: a generator closed before its first chunk runs
    none of its body, so no ``with`` in it would close the file it was handed; only the
    file object's finalizer would, whenever the last reference to it went."""

    def __init__(self, file: FileIO, start: int, end: int | None, chunk_size: int) -> None:
        self._file = file
        self._offset = start
        self._remaining = None if end is None else max(0, end - start)
        self._chunk_size = chunk_size

    def __iter__(self) -> _FileChunks:
        return self

    def __next__(self) -> bytes:
        if self._file.closed:
            raise StopIteration
        want = (
            self._chunk_size if self._remaining is None else min(self._chunk_size, self._remaining)
        )
        # pread: the offset is ours, so nothing depends on the file's position.
        chunk = os.pread(self._file.fileno(), want, self._offset) if want > 0 else b""
        if not chunk:
            self.close()
            raise StopIteration
        self._offset += len(chunk)
        if self._remaining is not None:
            self._remaining -= len(chunk)
            if self._remaining == 0:
                self.close()  # the last byte is in hand: let the file go now
        return chunk

    def close(self) -> None:
        self._file.close()  # FileIO.close is idempotent


class LocalBlobStore:
    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root
        self.url = url or f"file://{root}"
        self.staging_dir = root / "tmp"
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        self.trash_dir = root / "trash"
        self.trash_dir.mkdir(exist_ok=True)
        # Large blobs bypass the page cache where that helps (``storage/direct.py``).
        self.direct_writes = worth_it(self.staging_dir)
        self.recover_trash()

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

    def install(self, staged: Path, target: Path) -> None:
        """Publish the fsynced file ``staged`` as ``target`` (steps P1 and P2 of the module
        docstring): afterwards ``target`` holds the blob, stamped during this call. The
        caller removes ``staged``."""
        while True:
            try:
                os.utime(target)  # P1: identical content is stored already; refresh it
                return
            except FileNotFoundError:
                pass
            self.ensure_shard(target.parent)
            staged.chmod(0o444)
            os.utime(staged)  # stamp our copy: its last write may be long ago
            try:
                _link_new(staged, target)  # P2
            except FileExistsError:
                continue  # a copy appeared meanwhile: stamp that one (P1)
            _fsync_dir(target.parent)
            return

    def stage(self) -> _LocalStaged:
        return _LocalStaged(self)

    def adopt(self, path: Path, digest: str) -> bool:
        """Publish ``path`` by linking it into place (``install``: the same steps and the
        same guarantees as a staged blob's publish), when it is on the store's file
        system; its name stays the caller's to remove. A link across file systems fails
        (EXDEV) before anything changes: False, and the caller copies."""
        if path.stat().st_dev != self.root.stat().st_dev:
            return False
        try:
            self.install(path, self.path_of(digest))
        except OSError as error:
            if error.errno == errno.EXDEV:  # a bind mount: same device number, no links
                return False
            raise
        return True

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
    ) -> Chunks:
        try:
            file = self.path_of(digest).open("rb", buffering=0)
        except FileNotFoundError:
            raise BlobMissing(digest) from None
        return _FileChunks(file, start, end, chunk_size)

    def local_path(self, digest: str) -> Path | None:
        return self.path_of(digest)

    def modified(self, digest: str) -> float:
        try:
            return self.path_of(digest).stat().st_mtime
        except FileNotFoundError:
            raise BlobMissing(digest) from None

    def delete(self, digest: str, *, before: float | None = None) -> bool:
        try:
            target = self.path_of(digest)
        except BlobMissing:
            return False
        if before is None:
            try:
                target.unlink()
            except FileNotFoundError:
                return False
            return True
        trash = self.take(digest)
        return trash is not None and self.discard_unless_fresh(trash, before)

    def take(self, digest: str) -> Path | None:
        """Step D1 of a conditional delete: move the blob to the trash, out of reach of
        publish. Returns the trash path, or None if the blob is not stored."""
        trash = self.trash_dir / f"{digest}.{time.time_ns()}.{secrets.token_hex(4)}"
        try:
            self.path_of(digest).rename(trash)
        except (FileNotFoundError, BlobMissing):
            return None
        return trash

    def discard_unless_fresh(self, trash: Path, before: float) -> bool:
        """Steps D2 and D3: unlink the taken file if it was stamped before ``before``
        (True), else put it back (False)."""
        try:
            stamped = trash.stat().st_mtime
        except FileNotFoundError:  # a recovery put it back already
            return False
        if stamped >= before - MTIME_SLACK:
            self._put_back(trash)
            return False
        try:
            trash.unlink()
        except FileNotFoundError:
            return False
        return True

    def _put_back(self, trash: Path) -> None:
        """Step D3: link a trash file back under its digest unless a copy is there
        already (stamped later: see the module docstring), then drop the trash name."""
        found = _TRASH.fullmatch(trash.name)
        if found is None:
            return
        target = self.path_of(found.group(1))
        self.ensure_shard(target.parent)
        try:
            _link_new(trash, target)
        except (FileExistsError, FileNotFoundError):
            pass  # a newer copy holds the name, or someone else put this one back
        else:
            _fsync_dir(target.parent)
        trash.unlink(missing_ok=True)

    def recover_trash(self, older_than_seconds: float = STALE_TRASH_SECONDS) -> int:
        """Put back files that a crashed conditional delete left in the trash; returns
        how many. Only entries older than ``older_than_seconds``: younger ones belong to
        deletes in progress (in this or another process)."""
        cutoff_ns = time.time_ns() - int(older_than_seconds * 1e9)
        recovered = 0
        for entry in self.trash_dir.iterdir():
            found = _TRASH.fullmatch(entry.name)
            if found is not None and int(found.group(2)) <= cutoff_ns:
                self._put_back(entry)
                recovered += 1
        return recovered

    def digests(self) -> Iterator[str]:
        for shard in sorted(self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]")):
            for entry in shard.iterdir():
                if _DIGEST.fullmatch(entry.name):
                    yield entry.name

    def check(self) -> None:
        """The root is a directory and a new file can be made where uploads are staged (made
        and removed at once; one that a crash left is an abandoned staged file like any
        other, for ``clean_staging``). Raises the ``OSError`` that says why not."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"the blob directory {self.root} is missing")
        descriptor, name = tempfile.mkstemp(dir=self.staging_dir, prefix="check-")
        os.close(descriptor)
        Path(name).unlink()

    def clean_staging(self, older_than_seconds: float) -> int:
        """Remove staged files abandoned by crashed uploads; returns how many. Also puts
        back what crashed deletes left in the trash."""
        self.recover_trash()
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.staging_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
        return removed
