"""Reading a zip archive that a client uploaded (UFDL's ``files-multi``): the central
directory is read and checked whole before any member is, and each member's bytes are
counted as they come out of the decompressor. Nothing is written anywhere: the caller
stores what ``ZipReader.read`` yields, and throws it away when a later member is refused.

Why not ``zipfile``: it trusts the archive where an upload must not be trusted.

- ``ZipFile`` builds a ``ZipInfo`` for every record of the central directory before its
  caller can count them: 500 bytes of Python objects and 7 µs for each 50-byte record
  (10 MB of directory took 100 MB and 1.4 s, measured), so a body of nothing but directory
  records is a memory bomb whatever the entry limit. Here the end record's count is checked
  first, and then exactly that many records are read, one at a time.
- ``ZipExtFile`` cuts a member's output at its declared size instead of saying that the
  data holds more, and reads as many compressed bytes as the directory claims, wherever
  they lie (in other members' data: see "layout" below).
- ``ZipInfo`` cuts a name at its first NUL, so the name it checks is not the name stored.

The format is small (PKWARE's APPNOTE.TXT): an end record closes the file (followed only
by a comment of up to 64 KiB) and gives the central directory's offset, size and number
of records, through a zip64 end record when they outgrow 16 or 32 bits. Each directory
record gives a member's name, flags, compression method, CRC-32, sizes, Unix mode and the
offset of its local header, after which (and a name and extra field of the local header's
own lengths) the member's data begins. Nothing else is read: the central directory is the
archive's one table of contents, so what extractors disagree on (a local header naming
another file, data descriptors) plays no part.

How each rule is kept, in ``ZipReader.members`` before any member is read (each refusal
names its limit; ``TooLarge`` is a 413, ``Invalid`` a 400):

- **entries**: the end record's count, before any record is read; the records must then
  fill the directory exactly, so that the count cannot lie.
- **names** (zip-slip): every name is a valid dataset path (``validate_path``): relative,
  without ``..``, ``.`` or empty segments, backslashes or control characters (NUL among
  them), at most ``name_bytes`` in UTF-8, and not starting with a drive letter (``C:``).
  A directory is a name ending in ``/``. Symbolic links are refused (their target is
  their data, and would be stored as a file's), and so is a name seen twice (which of the
  two an extractor keeps is its own choice).
- **encryption and methods**: encrypted members, and methods other than stored (0) and
  deflated (8), are refused, naming the method.
- **ratio and total**, from the declared sizes: a member of over 1 MiB may expand at most
  ``ratio`` times; all members together to ``total_bytes``. Small members are exempt: 1 MiB
  of zeros deflates to 1 KB, and they add up to ``total_bytes`` at most anyway.
- **layout**: a member's data must end before the next member's local header (or the
  central directory) begins. Members that overlap let one deflate stream stand for many
  members (David Fifield's "better zip bomb": 42 kB of archive for 5.5 GB of members), and
  a member that claims other members' bytes as its compressed size passes the ratio.

And in ``ZipReader.read``, which trusts nothing declared: bytes are counted as they come
out of the decompressor, at most ``chunk`` at a time, and a member that yields one byte
more than it declared is refused at once (413). That keeps it within the ratio too, which
its declared size passed. A running count across reads holds the reader to
``total_bytes`` even when a member is read twice. Fewer bytes than declared, a wrong
CRC-32, corrupt deflate data or data cut short: 400.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, NamedTuple

from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.names import validate_path

MIB = 1024 * 1024
DEFAULT_ENTRIES = 10_000
DEFAULT_TOTAL_BYTES = 10 * 1024 * MIB
DEFAULT_RATIO = 200
DEFAULT_NAME_BYTES = 1024
# Members up to this size may expand without bound (see the module's docstring).
RATIO_EXEMPT_BYTES = MIB
CHUNK = MIB

STORED = 0
DEFLATED = 8
# What a refused method is, for its message (APPNOTE 4.4.5; 99 is WinZip's AES).
_METHOD_NAMES = {
    1: "Shrink",
    6: "Implode",
    9: "Deflate64",
    12: "bzip2",
    14: "LZMA",
    93: "Zstandard",
    95: "XZ",
    98: "PPMd",
    99: "AES encryption",
}
# Traditional encryption, strong encryption, an encrypted central directory (4.4.4).
_ENCRYPTED = 0x0001 | 0x0040 | 0x2000
_UTF8_NAME = 0x0800

# The records read, little-endian (APPNOTE 4.3.7, 4.3.12, 4.3.14-16), and their signatures.
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_EXTRA_HEADER = struct.Struct("<HH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_END_SIGNATURE = b"PK\x05\x06"
_END64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_END64_SIGNATURE = b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF
# A 32-bit size or offset with this value is in the zip64 extra field (4.5.3).
_IN_ZIP64 = 0xFFFFFFFF
_ZIP64_EXTRA = 0x0001
# The part of a zip64 end record that its own size field does not count.
_END64_LEAD = 12
# "C:\x", "C:/x" and "C:x" are absolute or drive-relative on Windows.
_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    """The limits of one archive. Each refusal is worded here, so that all read alike."""

    entries: int = DEFAULT_ENTRIES
    total_bytes: int = DEFAULT_TOTAL_BYTES
    ratio: int = DEFAULT_RATIO
    name_bytes: int = DEFAULT_NAME_BYTES

    def __post_init__(self) -> None:
        if min(self.entries, self.total_bytes, self.ratio, self.name_bytes) < 1:
            raise ValueError("zip limits must be at least 1")

    def too_many_entries(self) -> TooLarge:
        return TooLarge(
            f"the zip archive holds more than {self.entries} members (files and directories)"
        )

    def too_large_total(self) -> TooLarge:
        return TooLarge(
            f"the zip archive's members add up to more than {self.total_bytes} bytes uncompressed"
        )

    def too_compressed(self, name: str, size: int, compressed: int) -> TooLarge:
        return TooLarge(
            f"zip member {name!r} expands from {compressed} to {size} bytes: a member over "
            f"{RATIO_EXEMPT_BYTES} bytes may expand at most {self.ratio} times"
        )


@dataclass(frozen=True)
class ZipMember:
    """A member as its central directory record declares it, its checks passed. ``size`` is
    what it says it holds uncompressed; ``ZipReader.read`` holds it to that."""

    name: str
    size: int
    is_directory: bool


class _Record(NamedTuple):
    """One central directory record, its zip64 fields resolved."""

    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    name: bytes
    mode: int
    header: int  # the offset of the member's local header


@dataclass(frozen=True)
class _Entry:
    member: ZipMember
    record: _Record
    data: int  # the offset of the member's first compressed byte


def _not_a_zip(reason: str) -> Invalid:
    return Invalid(f"the body is not a zip archive: {reason}")


def _damaged(name: str, reason: str) -> Invalid:
    return Invalid(f"zip member {name!r} is damaged: {reason}")


def _read_at(file: IO[bytes], offset: int, size: int) -> bytes:
    """Up to ``size`` bytes from ``offset``: seeking first, because several readers (a
    member's stream, the directory checks) share the file."""
    file.seek(offset)
    return file.read(size)


def _end_record_offset(tail: bytes) -> int:
    """Where the end record begins in ``tail`` (the file's last bytes): the last signature
    whose record, with the comment it says follows, ends the file exactly. A comment may
    hold the signature too, and then its record does not."""
    before = len(tail)
    while (found := tail.rfind(_END_SIGNATURE, 0, before)) >= 0:
        record = tail[found : found + _END.size]
        if len(record) == _END.size and found + len(record) + _END.unpack(record)[-1] == len(tail):
            return found
        before = found + len(_END_SIGNATURE) - 1
    raise _not_a_zip("it has no end of central directory record")


def _locate_directory(file: IO[bytes]) -> tuple[int, int, int]:
    """The central directory's offset, size and number of records, from the end record, or
    from the zip64 end record when its locator precedes the end record."""
    length = file.seek(0, io.SEEK_END)
    if length == 0:
        raise _not_a_zip("it is empty")
    tail_offset = max(0, length - _END.size - _MAX_COMMENT)
    tail = _read_at(file, tail_offset, length - tail_offset)
    found = _end_record_offset(tail)
    _, disk, directory_disk, disk_count, count, size, offset, _ = _END.unpack_from(tail, found)
    # Where the directory must end: at the end record, or at the zip64 end record.
    directory_end = tail_offset + found
    locator_offset = directory_end - _END64_LOCATOR.size
    locator = _read_at(file, locator_offset, _END64_LOCATOR.size) if locator_offset >= 0 else b""
    if locator.startswith(_END64_LOCATOR_SIGNATURE):
        _, locator_disk, end64_offset, disks = _END64_LOCATOR.unpack(locator)
        if locator_disk != 0 or disks > 1:
            raise Invalid("zip archives split over several files are not accepted")
        # Offsets the archive gives are read only where they may lie (a seek to 2**63 fails).
        fits = end64_offset + _END64.size <= locator_offset
        end64 = _read_at(file, end64_offset, _END64.size) if fits else b""
        if not end64.startswith(_END64_SIGNATURE):
            raise _not_a_zip("its zip64 end record is missing")
        (_, record_size, _, _, disk, directory_disk, disk_count, count, size, offset) = (
            _END64.unpack(end64)
        )
        if end64_offset + _END64_LEAD + record_size != locator_offset:
            raise _not_a_zip("its zip64 end record is damaged")
        directory_end = end64_offset
    if disk != 0 or directory_disk != 0 or disk_count != count:
        raise Invalid("zip archives split over several files are not accepted")
    # Also refuses data before the archive (a self-extracting program, say), which would
    # shift every offset the directory gives.
    if offset + size != directory_end:
        raise _not_a_zip("its central directory is not where its end record puts it")
    return offset, size, count


def _zip64_fields(extra: bytes, fields: tuple[int, int, int]) -> tuple[int, ...]:
    """``fields`` (size, compressed size, local header offset) with those at ``_IN_ZIP64``
    read from the zip64 extra field, which holds those and only those, in that order."""
    offset = 0
    while offset + _EXTRA_HEADER.size <= len(extra):
        kind, length = _EXTRA_HEADER.unpack_from(extra, offset)
        offset += _EXTRA_HEADER.size
        if kind == _ZIP64_EXTRA:
            data = extra[offset : offset + length]
            stored = struct.unpack_from(f"<{len(data) // 8}Q", data)
            if len(stored) < fields.count(_IN_ZIP64):
                break
            values = iter(stored)
            return tuple(next(values) if field == _IN_ZIP64 else field for field in fields)
        offset += length
    raise _not_a_zip("a member's zip64 sizes are missing")


def _records(file: IO[bytes], offset: int, size: int, count: int) -> Iterator[_Record]:
    """The directory's ``count`` records, read one at a time; refused unless they fill its
    ``size`` bytes exactly."""
    position, end = offset, offset + size
    for _ in range(count):
        fixed = _read_at(file, position, _CENTRAL.size) if position + _CENTRAL.size <= end else b""
        if len(fixed) != _CENTRAL.size or not fixed.startswith(_CENTRAL_SIGNATURE):
            raise _not_a_zip("its central directory is damaged")
        (
            _,
            _,
            _,
            flags,
            method,
            _,
            _,
            crc,
            compressed,
            declared,
            name_length,
            extra_length,
            comment_length,
            _,
            _,
            external,
            header,
        ) = _CENTRAL.unpack(fixed)
        variable = _read_at(file, position + _CENTRAL.size, name_length + extra_length)
        position += _CENTRAL.size + name_length + extra_length + comment_length
        if position > end or len(variable) != name_length + extra_length:
            raise _not_a_zip("its central directory is damaged")
        fields = (declared, compressed, header)
        if _IN_ZIP64 in fields:
            declared, compressed, header = _zip64_fields(variable[name_length:], fields)
        name = variable[:name_length]
        yield _Record(flags, method, crc, compressed, declared, name, external >> 16, header)
    if position != end:
        raise _not_a_zip(f"its central directory holds more records than the {count} it counts")


def _decoded_name(record: _Record) -> str:
    if record.flags & _UTF8_NAME:
        try:
            return record.name.decode()
        except UnicodeDecodeError:
            raise Invalid(f"zip member name {record.name!r} is not UTF-8, as it says") from None
    # Without the flag a name is in code page 437, by the format; but macOS's Archive
    # Utility and others write UTF-8 without it. Text in code page 437 that is also valid
    # UTF-8 (a letter from the 0xC2-0xF4 range followed by box drawings) is no real name.
    try:
        return record.name.decode()
    except UnicodeDecodeError:
        return record.name.decode("cp437")


def _overlapping(name: str) -> Invalid:
    return Invalid(f"zip member {name!r} overlaps the member or directory that follows it")


def _data_offsets(
    file: IO[bytes], records: Iterable[tuple[str, _Record]], directory: int
) -> dict[str, int]:
    """Where each member's data begins, from its local header; refused unless its data ends
    before the next member's local header (in the file's order) or the directory begins."""
    ordered = sorted(records, key=lambda item: item[1].header)
    bounds = [*(record.header for _, record in ordered), directory][1:]
    offsets = {}
    for (name, record), bound in zip(ordered, bounds, strict=True):
        fits = record.header + _LOCAL.size <= directory
        local = _read_at(file, record.header, _LOCAL.size) if fits else b""
        if not local.startswith(_LOCAL_SIGNATURE):
            raise Invalid(f"zip member {name!r} is not where the central directory puts it")
        name_length, extra_length = _LOCAL.unpack(local)[-2:]
        data = record.header + _LOCAL.size + name_length + extra_length
        if data + record.compressed > bound:
            raise _overlapping(name)
        offsets[name] = data
    return offsets


class ZipReader:
    """A zip archive in a seekable binary file, read as the module's docstring says. The
    file stays the caller's: closing the reader (or leaving its ``with`` block) ends its
    reads, not the file."""

    def __init__(self, file: IO[bytes], limits: ZipLimits = ZipLimits()) -> None:
        if not file.seekable():
            raise ValueError("a zip archive is read from a seekable file")
        self.limits = limits
        self._file: IO[bytes] | None = file
        self._entries: dict[str, _Entry] | None = None
        self._produced = 0  # bytes yielded by every read, for total_bytes

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file = None
        self._entries = None

    def members(self) -> list[ZipMember]:
        """Every member (directories too), in the central directory's order, once the whole
        directory has passed the checks; the first that fails is raised."""
        return [entry.member for entry in self._checked().values()]

    def read(self, member: ZipMember, chunk: int = CHUNK) -> Iterator[bytes]:
        """``member``'s bytes, uncompressed, in pieces of at most ``chunk`` bytes; the
        limits are kept (and refusals raised) while iterating."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1 byte")
        entry = self._checked().get(member.name)
        if entry is None or entry.member != member:
            raise ValueError(f"{member.name!r} is not a member of this archive")
        return self._counted(entry, chunk)

    # --- checking the directory ----------------------------------------------------------------

    def _open_file(self) -> IO[bytes]:
        if self._file is None:
            raise ValueError("the zip reader is closed")
        return self._file

    def _checked(self) -> dict[str, _Entry]:
        if self._entries is None:
            self._entries = self._check(self._open_file())
        return self._entries

    def _check(self, file: IO[bytes]) -> dict[str, _Entry]:
        limits = self.limits
        offset, size, count = _locate_directory(file)
        if count > limits.entries:
            raise limits.too_many_entries()
        checked: dict[str, tuple[ZipMember, _Record]] = {}
        total = 0
        for record in _records(file, offset, size, count):
            member = self._member(record)
            if member.name in checked:
                raise Invalid(f"zip member {member.name!r} appears twice in the archive")
            if member.size > RATIO_EXEMPT_BYTES and member.size > limits.ratio * record.compressed:
                raise limits.too_compressed(member.name, member.size, record.compressed)
            total += member.size
            if total > limits.total_bytes:
                raise limits.too_large_total()
            checked[member.name] = (member, record)
        offsets = _data_offsets(file, ((n, record) for n, (_, record) in checked.items()), offset)
        return {
            name: _Entry(member, record, offsets[name])
            for name, (member, record) in checked.items()
        }

    def _member(self, record: _Record) -> ZipMember:
        name = _decoded_name(record)
        is_directory = name.endswith("/")
        if _DRIVE.match(name):
            raise Invalid(f"zip member {name!r} is refused: a drive letter makes it absolute")
        try:
            validate_path(name.removesuffix("/") if is_directory else name, self.limits.name_bytes)
        except Invalid as error:
            raise Invalid(f"zip member {name!r} is refused: {error.message}") from None
        if record.flags & _ENCRYPTED:
            raise Invalid(f"zip member {name!r} is encrypted: send it without a password")
        if record.method not in (STORED, DEFLATED):
            method = _METHOD_NAMES.get(record.method, "unknown")
            raise Invalid(
                f"zip member {name!r} is compressed with method {record.method} ({method}): "
                "only stored (0) and deflated (8) members are accepted"
            )
        if stat.S_ISLNK(record.mode):
            raise Invalid(f"zip member {name!r} is a symbolic link, which cannot be stored")
        return ZipMember(name, record.size, is_directory)

    # --- reading members -----------------------------------------------------------------------

    def _counted(self, entry: _Entry, chunk: int) -> Iterator[bytes]:
        member = entry.member
        produced = crc = 0
        for piece in self._decompressed(entry, chunk):
            self._open_file()  # a closed reader yields no more, even what the inflater holds
            produced += len(piece)
            self._produced += len(piece)
            if produced > member.size:
                raise TooLarge(
                    f"zip member {member.name!r} expands past the {member.size} bytes it declares"
                )
            if self._produced > self.limits.total_bytes:
                raise self.limits.too_large_total()
            crc = zlib.crc32(piece, crc)
            yield piece
        if produced < member.size:
            raise _damaged(
                member.name, f"it holds {produced} of the {member.size} bytes it declares"
            )
        if crc != entry.record.crc:
            raise _damaged(member.name, "its CRC-32 does not match its bytes")

    def _decompressed(self, entry: _Entry, chunk: int) -> Iterator[bytes]:
        compressed = self._compressed(entry, chunk)
        if entry.record.method == STORED:
            yield from compressed
            return
        # Raw deflate (no zlib header), as zip stores it; output is asked for at most a chunk
        # at a time, so a bomb never stands in memory, whatever its compressed input.
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        for data in compressed:
            pending = data
            while True:
                try:
                    piece = inflater.decompress(pending, chunk)
                except zlib.error as error:
                    raise _damaged(
                        entry.member.name, f"its deflate data is corrupt ({error})"
                    ) from None
                if piece:
                    yield piece
                pending = inflater.unconsumed_tail
                # A full piece may leave output in the inflater with no input left to feed.
                if inflater.eof or (not pending and len(piece) < chunk):
                    break
            if inflater.eof:
                return
        raise _damaged(entry.member.name, "its deflate data ends early")

    def _compressed(self, entry: _Entry, chunk: int) -> Iterator[bytes]:
        offset, left = entry.data, entry.record.compressed
        while left:
            data = _read_at(self._open_file(), offset, min(chunk, left))
            if not data:  # the layout check saw the data whole: the file was cut since
                raise _damaged(entry.member.name, "the archive ends inside its data")
            offset += len(data)
            left -= len(data)
            yield data
