"""The bulk of a large staged blob written around the page cache (``O_DIRECT``).

A buffered write copies every byte into the page cache, and the final fsync then writes
them out: for a big upload the copy into freshly allocated cache pages is most of the
cost (on a virtual machine a new page may first have to be handed over by the host), and
the pages evict what readers had cached. A direct write hands the bytes to the device
straight from our buffer, as ``dd oflag=direct`` does. On the 2-core machine of the
benchmarks a 1 GiB ``dd`` took 0.69 s so, and 0.72 to 1.29 s buffered with ``fdatasync``;
a 1 GiB Pbench upload, which writes the tarball and every member (two copies of each
byte), went from 4.4 to 5.8 s to 3.4 to 3.7 s (``bench/pbench_upload.py``), and the
server's system time from 2 to 5 s to under 1 s.

Direct writes need the buffer's address, the length and the file offset aligned to the
device's logical block (512 bytes or 4 KiB, so ``ALIGN``); bytes are therefore gathered in
page-aligned buffers (anonymous ``mmap``s, kept in a small pool so that their pages are
not faulted in again for every blob) and written a whole buffer at a time. The tail that
is not a whole block goes through the page cache after ``O_DIRECT`` is switched off again.
Direct writes still sit in the device's volatile cache until the fsync that ``publish``
does anyway, so durability is exactly that of the buffered path.

A file system that refuses ``O_DIRECT`` (tmpfs before Linux 6.6, some network file
systems) or one of its writes (an unusual block size) gets buffered writes instead: the
same bytes, only slower. On a file system in memory (tmpfs, ramfs) the page cache *is*
the storage, and the extra copy into our buffer only costs (``bench/transfer.py``'s
tmpfs upload went from 675 to 541 MB/s): ``worth_it`` says no there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from dataloft.storage.base import ByteBuffer

ALIGN = 4096
# 1 MiB, as dd's bs=1M: 2 MiB took the 1 GiB upload of bench/pbench_upload.py no faster
# (3.6 to 3.7 s either way) and its peak RSS from 148 to 152 MB.
BUFFER = 1024 * 1024
# Each writer has one buffer; a second one (to gather into while the first is written)
# only while fewer than ``_MOST`` exist, so that many concurrent uploads cost at most
# ``_MOST * BUFFER`` more than one each (and then write without overlap).
_MOST = 4
_pool: list[mmap.mmap] = []  # buffers made and not in use
_made = 0
_pool_lock = threading.Lock()
# Writes each full buffer while its writer fills the next one (one in flight per writer).
_WRITER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="blob-direct")
# Where O_DIRECT is not available at all (not Linux), every writer stays buffered.
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


# File systems whose pages are the storage itself.
_IN_MEMORY = frozenset({"tmpfs", "ramfs", "hugetlbfs", "devtmpfs"})
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _mount_types(mountinfo: str) -> dict[str, str]:
    """Mount point -> file-system type, from ``/proc/self/mountinfo`` (proc(5): the fifth
    field is the mount point, with spaces and the like as octal escapes; the type is the
    first field after the lone ``-``)."""
    types: dict[str, str] = {}
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 5:
            continue
        after = fields.index("-") + 1
        if after < len(fields):
            point = _ESCAPE.sub(lambda found: chr(int(found.group(1), 8)), fields[4])
            types[point] = fields[after]
    return types


def worth_it(directory: Path) -> bool:
    """Whether files under ``directory`` should be written directly: not where the file
    system lives in memory, nor where the mounts cannot be read (not Linux)."""
    if not _O_DIRECT:
        return False
    try:
        types = _mount_types(Path("/proc/self/mountinfo").read_text())
    except OSError:
        return False
    resolved = directory.resolve()
    # The deepest mount point that holds the directory is the one it lives on.
    for place in (resolved, *resolved.parents):
        if str(place) in types:
            return types[str(place)] not in _IN_MEMORY
    return False


def _take(*, needed: bool = True) -> mmap.mmap | None:
    """A buffer from the pool, or a new one: always if ``needed``, else only while fewer
    than ``_MOST`` exist."""
    global _made
    with _pool_lock:
        if _pool:
            return _pool.pop()
        if not needed and _made >= _MOST:
            return None
        _made += 1
    return mmap.mmap(-1, BUFFER, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _give_back(buffer: mmap.mmap) -> None:
    global _made
    with _pool_lock:
        if _made <= _MOST:
            _pool.append(buffer)
            return
        _made -= 1
    # A view of it may still be alive (in a traceback that has not been let go, say): then
    # the mapping goes when the last view does, instead of failing the write that is done.
    with contextlib.suppress(BufferError):
        buffer.close()


def _set_direct(fd: int, on: bool) -> bool:
    """Switch ``O_DIRECT`` on ``fd``; False where the file system refuses it."""
    if not _O_DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    wanted = flags | _O_DIRECT if on else flags & ~_O_DIRECT
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, wanted)
    except OSError as error:
        if error.errno == errno.EINVAL:
            return False
        raise
    return True


def write_all(fd: int, data: ByteBuffer) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class DirectWriter:
    """The rest of a file written from ``fd``'s current offset, which must be a multiple of
    ``ALIGN``: ``write`` gathers, ``finish`` writes the tail, ``release`` frees the buffers
    (also after a failure). The caller owns ``fd`` and fsyncs it.

    A direct write returns only once the device has the bytes, so each full buffer is
    written on a thread of ``_WRITER`` while the caller fills a second one: the disk and
    the caller work at the same time, as the page cache's writeback would let them."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._direct = _set_direct(fd, True)
        self._buffer = _take() if self._direct else None
        self._fill = 0
        self._spare: mmap.mmap | None = None  # the buffer being written, once it is done
        self._writing: Future[None] | None = None

    @property
    def direct(self) -> bool:
        """Whether the file system took ``O_DIRECT`` (if not, the caller writes itself)."""
        return self._direct

    def write(self, data: ByteBuffer) -> None:
        if self._buffer is None:
            raise ValueError("writer already finished")
        view = memoryview(data).cast("B")
        while view:
            taken = min(BUFFER - self._fill, len(view))
            self._buffer[self._fill : self._fill + taken] = view[:taken]
            self._fill += taken
            view = view[taken:]
            if self._fill == BUFFER:
                self._emit(BUFFER)

    def _emit(self, size: int) -> None:
        """Start writing the first ``size`` gathered bytes (a multiple of ``ALIGN``), and
        go on gathering in the other buffer."""
        assert self._buffer is not None
        self._wait()
        other = self._spare or _take(needed=False)
        full, left = self._buffer, self._fill - size
        if other is None:  # no second buffer to be had: write this one now
            self._write_out(full, size)
            if left:
                full.move(0, size, left)
            self._fill = left
            return
        self._buffer, self._spare = other, full
        if left:
            other[:left] = full[size : self._fill]
        self._fill = left
        self._writing = _WRITER.submit(self._write_out, full, size)

    def _write_out(self, buffer: mmap.mmap, size: int) -> None:
        with memoryview(buffer) as whole, whole[:size] as chunk:
            if self._direct:
                try:
                    write_all(self._fd, chunk)
                    return
                except OSError as error:
                    if error.errno != errno.EINVAL:
                        raise
                # The file system took O_DIRECT but not this write (an unusual block
                # size): buffered from here on. EINVAL comes before any byte moves, so
                # the offset is unchanged.
                self._direct = not _set_direct(self._fd, False)
            write_all(self._fd, chunk)

    def _wait(self) -> None:
        """Wait for the write in flight; its error, if any, is raised here."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def finish(self) -> None:
        """Write what is gathered: whole blocks directly, then the tail buffered."""
        if self._buffer is None:
            return
        aligned = self._fill - self._fill % ALIGN
        if aligned:
            self._emit(aligned)
        self._wait()
        if self._direct:
            _set_direct(self._fd, False)
            self._direct = False
        if self._fill:
            with memoryview(self._buffer) as whole, whole[: self._fill] as tail:
                write_all(self._fd, tail)
            self._fill = 0
        self.release()

    def release(self) -> None:
        """Give the buffers back, once no write uses them (its error no longer matters)."""
        with contextlib.suppress(OSError):
            self._wait()
        for buffer in (self._buffer, self._spare):
            if buffer is not None:
                _give_back(buffer)
        self._buffer = self._spare = None
