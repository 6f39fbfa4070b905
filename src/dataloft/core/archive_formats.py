"""Streaming archives: zip (STORED) and tar / tar.gz, produced chunk by chunk.

Nothing is held whole in memory: a member's bytes are read from the blob store as they are
written out. Zip members use data descriptors (their CRC is only known after streaming) and
zip64 where sizes need it; tar members get PAX headers (long UTF-8 names, sizes over 8 GiB).
Member names come from validated dataset paths, so they are relative and free of ``..``.

An archive stream is ``Chunks``: closing it early (a client that went away) closes the
member reader it is in the middle of and the iterator of members it was given, so an open
blob or a records spool is let go at once rather than at the next garbage collection.
"""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from dataloft.storage.chunks import Chunks, closing_iterator, gzip_chunks

TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK
GZIP_LEVEL = 1  # archives are mostly binary data: favour throughput over ratio


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    modified: float  # epoch seconds
    chunks: Callable[[], Iterator[bytes]]
    symlink_target: str | None = None


class _Sink(io.RawIOBase):
    """A write-only, non-seekable file that hands back what was written to it."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    @property
    def pending(self) -> bool:
        return bool(self._parts)

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _zip_time(epoch: float) -> tuple[int, int, int, int, int, int]:
    moment = time.gmtime(max(epoch, 315532800))  # zip cannot date anything before 1980
    return moment[:6]


def zip_stream(members: Iterable[Member], *, comment: str = "") -> Chunks:
    sink = _Sink()
    with (
        closing_iterator(members) as listed,
        zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf,
    ):
        zf.comment = comment.encode()[:65535]  # the most a zip comment can hold
        for member in listed:
            info = zipfile.ZipInfo(member.name, _zip_time(member.modified))
            info.create_system = 3  # unix, so that the mode bits below mean something
            if member.symlink_target is not None:
                info.external_attr = 0o120777 << 16
                zf.writestr(info, member.symlink_target)
            else:
                info.external_attr = 0o100644 << 16
                info.file_size = member.size
                zip64 = member.size > zipfile.ZIP64_LIMIT
                with (
                    zf.open(info, mode="w", force_zip64=zip64) as out,
                    closing_iterator(member.chunks()) as chunks,
                ):
                    for chunk in chunks:
                        out.write(chunk)
                        if sink.pending:
                            yield sink.drain()
            if sink.pending:
                yield sink.drain()
    yield sink.drain()


def _tar_header(member: Member) -> bytes:
    info = tarfile.TarInfo(member.name)
    info.mtime = int(member.modified)
    info.uname = info.gname = "dataloft"
    if member.symlink_target is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = member.symlink_target
        info.mode = 0o777
    else:
        info.size = member.size
        info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _tar_blocks(members: Iterable[Member]) -> Chunks:
    total = 0
    with closing_iterator(members) as listed:
        for member in listed:
            header = _tar_header(member)
            total += len(header)
            yield header
            if member.symlink_target is not None:
                continue
            written = 0
            with closing_iterator(member.chunks()) as chunks:
                for chunk in chunks:
                    written += len(chunk)
                    yield chunk
            if written != member.size:
                raise OSError(f"{member.name}: expected {member.size} bytes, read {written}")
            padding = -written % TAR_BLOCK
            total += written + padding
            yield b"\0" * padding
    end = 2 * TAR_BLOCK
    end += -(total + end) % TAR_RECORD
    yield b"\0" * end


def tar_stream(members: Iterable[Member], *, gzip: bool = False) -> Chunks:
    if not gzip:
        yield from _tar_blocks(members)  # closing this stream closes the blocks' too
        return
    yield from gzip_chunks(_tar_blocks(members), GZIP_LEVEL)


ArchiveWriter = Callable[[Iterable[Member]], Chunks]

FORMATS: dict[str, tuple[ArchiveWriter, str]] = {
    "zip": (zip_stream, "application/zip"),
    "tar": (tar_stream, "application/x-tar"),
    "tar.gz": (lambda members: tar_stream(members, gzip=True), "application/gzip"),
}
