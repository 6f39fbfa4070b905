"""Bytes to upload, whatever the caller handed over (``bytes``, a path, a binary file), and
progress reports that count each byte once.

A source can be read again from any offset: a retried request re-reads its body from the
start, and a resumed upload from where the server got to. A file object is read from the
position it had when handed over; one that cannot seek is first copied to a temporary file
(so it can be hashed, measured and re-read like the others).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from dataloft_client._commands import Body

Progress = Callable[[int], None]
UploadSource = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes] | BinaryIO
CHUNK = 1 << 20  # 1 MiB: few system calls per gigabyte, little memory per transfer


class Tally:
    """Reports progress to a ``progress(n)`` callback as *new* bytes only: ``reach(p)``
    says the transfer got to position ``p``; bytes below the highest position reported
    before (a retry sending them again, a resumed prefix reported once) are not counted
    twice, so one bar can sum many transfers."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self.high = 0

    def reach(self, position: int) -> None:
        if position > self.high:
            if self._progress is not None:
                self._progress(position - self.high)
            self.high = position


class Source:
    """Uploadable bytes of known ``size``."""

    def __init__(self, source: UploadSource) -> None:
        self._data: memoryview | None = None
        # A path as a str and the os functions: pathlib took 30 us a file, more than the
        # reading of a small one (here and below, the noqa PTH).
        self._path: str | None = None
        self._file: IO[bytes] | None = None
        self._start = 0
        self._spool: IO[bytes] | None = None
        self.name = ""
        if isinstance(source, bytes | bytearray | memoryview):
            self._data = memoryview(source).cast("B")
            self.size = len(self._data)
        elif isinstance(source, str | os.PathLike):
            self._path = os.fspath(source)
            self.name = os.path.basename(self._path)  # noqa: PTH119
            self.size = os.stat(self._path).st_size  # noqa: PTH116
        else:
            self.name = Path(str(getattr(source, "name", ""))).name
            self._file = self._seekable(source)
            self._start = self._file.tell()
            self.size = self._file.seek(0, io.SEEK_END) - self._start

    def _seekable(self, file: IO[bytes]) -> IO[bytes]:
        try:
            if file.seekable():
                return file
        except (AttributeError, ValueError):
            pass
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        shutil.copyfileobj(file, spool, CHUNK)
        spool.seek(0)
        self._spool = spool
        return spool

    def read_from(self, offset: int) -> Iterator[bytes]:
        """The bytes from ``offset`` to the end, in chunks: ``size`` bytes in all, as
        measured (a file that has shrunk since is an ``OSError``; what it has grown by
        is not read, so the bytes sent are those hashed and announced)."""
        if self._data is not None:
            for start in range(offset, self.size, CHUNK):
                yield bytes(self._data[start : start + CHUNK])
            return
        if self._path is not None:
            # Unbuffered, each read no larger than what is left: a 4 KiB file is one
            # read of 4 KiB, not a 1 MiB buffer allocated, filled and freed.
            with open(self._path, "rb", buffering=0) as file:  # noqa: PTH123
                yield from self._span(file, offset, offset)
            return
        assert self._file is not None
        yield from self._span(self._file, self._start + offset, offset)

    def _span(self, file: IO[bytes], position: int, offset: int) -> Iterator[bytes]:
        file.seek(position)
        remaining = self.size - offset
        while remaining > 0:
            chunk = file.read(min(CHUNK, remaining))
            if not chunk:
                raise OSError(f"the file {self.name!r} ended {remaining} bytes early")
            remaining -= len(chunk)
            yield chunk

    def body(self, offset: int, tally: Tally) -> Body:
        """A request body of the bytes from ``offset``, reporting progress as it goes."""

        def chunks() -> Iterator[bytes]:
            position = offset
            for chunk in self.read_from(offset):
                yield chunk
                position += len(chunk)
                tally.reach(position)

        return Body(chunks, self.size - offset)

    def sha256(self) -> str:
        """The hex sha256 of all of it (reads it all: run it as ``Blocking``)."""
        digest = hashlib.sha256()
        for chunk in self.read_from(0):
            digest.update(chunk)
        return digest.hexdigest()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
