"""Reading a tarball that a client uploads (Pbench's ``<name>.tar.xz``) as a stream: the body
is read once, front to back, while it arrives (``core.tar_stream`` decompresses it under
its limits), and every member is checked as its header goes by. Nothing is written
anywhere: the caller stores what ``TarReader.read`` yields for each member, and throws it
all away when a later member is refused.

Why not ``tarfile``: it trusts the archive where an upload must not be trusted.

- It reads a PAX extended header (``x``, ``g``) or a GNU long name (``L``, ``K``) whole
  into memory, whatever size its header declares: 4 GiB declared is a 4 GiB read.
- Its decompressing readers take no output limit, so a bomb (100 MiB of zeros is 15 kB of
  xz) is found, if at all, only after its bytes were produced.
- It lists some archives otherwise than GNU tar, which is what extracts them elsewhere,
  and a member list that differs from an extractor's would index files the tarball does
  not hold. A symlink or fifo that declares data: GNU tar (1.34) skips that many bytes,
  ``tarfile`` reads the next header at once (so a member hidden there exists for one of
  them only). A GNU long name and a PAX ``path`` for one member: the first wins in
  ``tarfile``, the PAX one in GNU tar. And ``tarfile`` takes a ``ustar`` prefix from GNU
  headers, where those bytes are times.

The format (POSIX pax/ustar, GNU, old V7): 512-byte blocks; a member is a header block (its
checksum is the sum of its bytes, the checksum field counted as spaces) followed by its
data, padded to a whole block; numbers are octal text, or GNU base-256 when their first
byte is 0x80 (0xFF: negative). Extended headers (``x``: PAX records for the next member;
``g``: for all that follow; ``L``/``K``: the next member's GNU long name or link target)
precede the member they describe. The archive ends at its first all-zero block, as GNU
tar, libarchive and ``tarfile`` all read it (POSIX writes two; one is enough). The body is
a plain tar when its first block is a header, else xz, gzip or bzip2 by its first bytes.

How each rule is kept (``TooLarge`` is a 413, ``Invalid`` a 400; each names its limit or
the member):

- **members** and **total_bytes** (regular files' declared sizes) are counted from each
  header, before its data is read; **header_bytes** bounds every extended header before its
  data is read; **ratio** is kept by ``core.tar_stream`` as bytes come out. A member's data
  must be as long as its header says, and the archive must reach its end block.
- **names**: one leading ``./`` is dropped, a directory's trailing ``/`` too; then the
  name must be a valid dataset path (``validate_path``: relative, no ``..``, ``.`` or empty
  segments, no backslash or control character, at most ``name_bytes`` in UTF-8). A name
  seen twice is refused unless both are directories (extracting a directory twice does no
  harm). The archive's root directory (``./``) is no member: it is skipped.
- **kinds**: regular (``0``, NUL, ``7``) is a file, ``5`` a directory, ``2`` a symlink,
  ``1`` a hard link; devices and fifos (``3``, ``4``, ``6``) and unknown kinds are
  "other", the unknown ones' data skipped (as every reader does). A regular member named
  with a trailing ``/`` is a directory (GNU tar's reading of old archives).
- **links**: a symlink's target is kept as stored, but one that is absolute, or that
  climbs above the root when resolved lexically from the link's folder, is refused
  (``core.symlinks`` checks a whole version's links, chains too, when it is committed). A
  hard link must name an earlier regular file.
- **agreement with extractors**: where readers part (see above), the archive is refused
  rather than read one way: data declared by a link, device or fifo (POSIX says none
  follows), two extended headers of one kind for one member, a GNU and a PAX name (or link)
  for one member, a global PAX header setting a name, a link or a size (it would apply to
  every later member), a directory-named regular member holding data, and sparse members
  (``S``, ``GNU.sparse.*``), whose stored data is not the file's bytes.

Memory stays bounded: one decompressed piece, one extended header, and 16 bytes of digest
for each name seen (100,000 names of 4 KiB would be 400 MB kept as text).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.names import has_control, validate_path
from dataloft.core.tar_stream import (
    INPUT,
    MIB,
    RATIO_FREE_BYTES,
    BinaryReadable,
    Body,
    Tape,
    decompressing,
    truncated,
)

GIB = 1024 * MIB
BLOCK = 512
CHUNK = MIB

TarKind = Literal["file", "directory", "symlink", "hardlink", "other"]

# ustar (POSIX.1-1988) header fields, from name to prefix; the checksum field's offset.
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_CHECKSUM = slice(148, 156)
_POSIX_MAGIC = b"ustar\x00"
_ZERO = bytes(BLOCK)
_HIGH = bytes(range(128, 256))
_PAX_SIZE = re.compile(r"[0-9]{1,20}")
_PAX_TIME = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{0,20})?")
_KINDS: dict[bytes, TarKind] = {
    b"0": "file",
    b"\x00": "file",
    b"7": "file",  # contiguous: a regular file everywhere but a few 1980s systems
    b"5": "directory",
    b"2": "symlink",
    b"1": "hardlink",
    b"3": "other",  # character device
    b"4": "other",  # block device
    b"6": "other",  # fifo
}
_EXTENDED = {
    b"x": "PAX header",
    b"g": "global PAX header",
    b"L": "GNU long name",
    b"K": "GNU long link",
}
# PAX keys that make a member another member if a reader ignores them.
_IDENTITY_KEYS = ("path", "linkpath", "size")


@dataclass(frozen=True)
class TarLimits:
    """The limits of one tarball. Each refusal is worded here, so that all read alike."""

    members: int = 100_000
    total_bytes: int = 64 * GIB
    ratio: int = 200
    name_bytes: int = 4096
    header_bytes: int = MIB

    def __post_init__(self) -> None:
        if min(self.members, self.total_bytes, self.ratio, self.name_bytes, self.header_bytes) < 1:
            raise ValueError("tar limits must be at least 1")

    def too_many_members(self) -> TooLarge:
        return TooLarge(
            f"the tarball holds more than {self.members} members (files, directories, links)"
        )

    def too_large_total(self) -> TooLarge:
        return TooLarge(f"the tarball's files add up to more than {self.total_bytes} bytes")

    def too_compressed(self, compressed: int, produced: int) -> TooLarge:
        return TooLarge(
            f"the tarball expands from {compressed} to over {produced} bytes: past "
            f"{RATIO_FREE_BYTES} bytes it may expand at most {self.ratio} times"
        )

    def too_large_header(self, what: str, at: int, size: int) -> TooLarge:
        return TooLarge(
            f"the {what} at byte {at} of the tarball holds {size} bytes: an extended header "
            f"may hold at most {self.header_bytes}"
        )


@dataclass(frozen=True)
class TarMember:
    """A member as its headers declare it, its checks passed. ``path`` is relative and
    ``/``-separated; ``size`` is a regular file's (0 for other kinds); ``link`` is a
    symlink's target as stored, or the (normalised) path of the file a hard link names. A
    directory may come twice (the later one's mode and time are what tar leaves)."""

    path: str
    kind: TarKind
    size: int
    mode: int
    mtime: int
    link: str | None


def _not_tar(reason: str) -> Invalid:
    return Invalid(f"the upload is not a tar archive: {reason}")


def _damaged(at: int) -> Invalid:
    return Invalid(f"damaged tar header at byte {at}")


def _refused(name: str, reason: str) -> Invalid:
    return Invalid(f"tar member {name!r} is refused: {reason}")


def _number(field: bytes, at: int) -> int:
    """A numeric header field: octal text (cut at a NUL, spaces around it), or GNU base-256.
    A field that is empty yet holds something after a NUL is damaged: ``tarfile`` reads it
    as 0, GNU tar skips one leading NUL and reads the digits after it."""
    text = field.partition(b"\x00")[0].strip(b" ")
    if text.isdigit():  # ASCII digits only, unlike int(), which takes "_" and "+" too
        try:
            return int(text, 8)
        except ValueError:
            raise _damaged(at) from None
    if not text and not field.strip(b"\x00 "):
        return 0
    if field[0] in (0x80, 0xFF):
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * (len(field) - 1))) if field[0] == 0xFF else value
    raise _damaged(at)


def _checksums(block: bytes) -> bool:
    """Whether ``block`` is a header whose checksum holds: as the sum of unsigned bytes (the
    standard) or of signed ones (old Sun and other tars)."""
    try:
        stored = _number(block[_CHECKSUM], 0)
    except Invalid:
        return False
    unsigned = sum(block) - sum(block[_CHECKSUM]) + 8 * ord(" ")
    if unsigned == stored:
        return True
    rest = block[:148] + block[156:]
    return unsigned - 256 * (len(rest) - len(rest.translate(None, _HIGH))) == stored


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise Invalid(f"the {what} {raw!r} in the tarball is not UTF-8") from None


def _pax_records(data: bytes, at: int) -> dict[str, bytes]:
    """The ``"<length> <key>=<value>\\n"`` records of a PAX header (later ones win; an empty
    value unsets its key, as POSIX says). Trailing NULs are tolerated, nothing else."""
    records: dict[str, bytes] = {}
    position = 0
    while position < len(data) and data[position]:
        space = data.find(b" ", position, position + 21)
        digits = data[position:space] if space > position else b""
        end = position + int(digits) if digits.isdigit() else 0
        if end <= space or end > len(data) or data[end - 1] != 0x0A:
            raise Invalid(f"damaged PAX header at byte {at}")
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals:
            raise Invalid(f"damaged PAX header at byte {at}")
        name = key.decode("utf-8", "replace")
        if value:
            records[name] = value
        else:
            records.pop(name, None)
        position = end
    if data[position:].strip(b"\x00"):
        raise Invalid(f"damaged PAX header at byte {at}")
    return records


def _pax_number(records: dict[str, bytes], key: str, pattern: re.Pattern[str], at: int) -> str:
    value = records[key].decode("ascii", "replace")
    if not pattern.fullmatch(value):
        raise Invalid(f"the PAX header at byte {at} has an invalid {key} {value!r}")
    return value


def _floor_time(text: str) -> int:
    whole, _, fraction = text.partition(".")
    seconds = int(whole)
    return seconds - 1 if whole.startswith("-") and fraction.strip("0") else seconds


def _escapes(link: str, target: str) -> bool:
    """Whether ``target``, taken lexically from the folder of the link at ``link``, ever
    climbs above the archive's root."""
    depth = link.count("/")
    for segment in target.split("/"):
        if segment == "..":
            depth -= 1
            if depth < 0:
                return True
        elif segment not in ("", "."):
            depth += 1
    return False


def _key(path: str) -> bytes:
    # 16 bytes stand for a name of up to name_bytes; a collision (2**64 work to find)
    # could only refuse the archive that holds it, or let a hard link name a non-file.
    return hashlib.blake2b(path.encode(), digest_size=16).digest()


class _Extended:
    """The extended headers read for the next member: one of each kind at most, since
    readers disagree on which of two wins, and no global header among them."""

    def __init__(self) -> None:
        self.pax: dict[str, bytes] = {}
        self.name: bytes | None = None
        self.link: bytes | None = None
        self._flags: set[bytes] = set()

    def __bool__(self) -> bool:
        return bool(self._flags)

    def add(self, flag: bytes, data: bytes, at: int) -> None:
        if flag in self._flags or (flag == b"g" and self._flags):
            raise Invalid(
                f"the {_EXTENDED[flag]} at byte {at} comes after another extended header of "
                "the same member"
            )
        if flag == b"g":
            for key in _pax_records(data, at):
                if key in _IDENTITY_KEYS or key.startswith("GNU.sparse."):
                    raise Invalid(
                        f"the global PAX header at byte {at} sets {key!r} for every member, "
                        "which is not supported"
                    )
            return
        self._flags.add(flag)
        if flag == b"x":
            self.pax = _pax_records(data, at)
        elif flag == b"L":
            self.name = data.partition(b"\x00")[0]
        else:
            self.link = data.partition(b"\x00")[0]


def _name(field: bytes, gnu: bytes | None, pax: dict[str, bytes], key: str, at: int) -> str:
    """A member's name or link target: the PAX header's, the GNU header's, or the field's
    (cut at its first NUL, as every reader does)."""
    if gnu is not None and key in pax:
        raise Invalid(
            f"the member at byte {at} has its {key} in both a GNU and a PAX extended header"
        )
    raw = pax.get(key, field.partition(b"\x00")[0] if gnu is None else gnu)
    return _text(raw, "member name" if key == "path" else "link target")


def _open(source: BinaryReadable, limits: TarLimits) -> Tape:
    """The tar stream in ``source``: plain if its first block is a header (or the all-zero
    block of an empty archive), else decompressed as its first bytes say."""
    head = b""
    while len(head) < BLOCK and (data := source.read(INPUT)):
        head += data
    if not head:
        raise _not_tar("it is empty")
    first = head[:BLOCK]
    if len(first) == BLOCK and (first == _ZERO or _checksums(first)):
        return Tape(Body(source, head))
    body = decompressing(source, head, limits)
    if body is None:
        raise _not_tar("nor is it an xz, gzip or bzip2 compressed one")
    return Tape(body)


# --- the reader --------------------------------------------------------------------------------


class TarReader:
    """A tarball read from ``source`` (only its ``read`` is called, front to back), as the
    module's docstring says. Iterating yields the members in the archive's order; ``read``
    yields the current member's bytes, and what is not read is skipped when iteration
    moves on. ``compressed_bytes`` counts the source's bytes read so far (a compressed body
    is read 64 KiB at a time, so it may count some bytes after the stream's end). Once
    iteration ends the rest of the source is left unread: a caller keeping the whole body
    reads it on."""

    def __init__(self, source: BinaryReadable, limits: TarLimits = TarLimits()) -> None:
        self.limits = limits
        self._source = source
        self._tape: Tape | None = None
        self._done = False
        self._current: TarMember | None = None
        self._serial = 0  # which member ``read`` generators belong to
        self._left = 0  # the current member's data not yet taken
        self._padding = 0  # and the zeros that fill its last block
        self._count = 0
        self._total = 0
        self._seen: dict[bytes, TarKind] = {}

    @property
    def compressed_bytes(self) -> int:
        return 0 if self._tape is None else self._tape.source.consumed

    def __iter__(self) -> Iterator[TarMember]:
        return self

    def __next__(self) -> TarMember:
        if self._done:
            raise StopIteration
        try:
            member = self._advance()
        except BaseException:
            self._done = True
            raise
        if member is None:
            self._done = True
            raise StopIteration
        return member

    def read(self, chunk: int = CHUNK) -> Iterator[bytes]:
        """The current member's bytes (a regular file's only), in pieces of at most
        ``chunk``; refusals (a cut or bomb) are raised while iterating."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1 byte")
        member = self._current
        if member is None or member.kind != "file":
            raise ValueError("only a regular file member has bytes to read")
        return self._data(member, self._serial, chunk)

    def _data(self, member: TarMember, serial: int, chunk: int) -> Iterator[bytes]:
        while True:
            if serial != self._serial or self._tape is None:
                raise ValueError(f"the reader has moved past {member.path!r}")
            if not self._left:
                return
            piece = self._tape.some(min(chunk, self._left))
            if not piece:
                raise truncated(f"it ends inside the data of {member.path!r}")
            self._left -= len(piece)
            yield piece

    # --- headers ---------------------------------------------------------------------------

    def _advance(self) -> TarMember | None:
        if self._tape is None:
            self._tape = _open(self._source, self.limits)
        tape = self._tape
        if self._current is not None:
            tape.skip(self._left + self._padding, f"the data of {self._current.path!r}")
        self._current, self._left, self._padding = None, 0, 0
        self._serial += 1
        extended = _Extended()
        while True:
            at = tape.offset
            block = tape.take(BLOCK)
            if at == 0 and (len(block) < BLOCK or not (block == _ZERO or _checksums(block))):
                # Only a compressed body gets here: a plain one was checked by _open.
                raise _not_tar(f"its {tape.source.name} content does not begin with a tar header")
            if len(block) < BLOCK:
                where = f"inside the header at byte {at}" if block else "before its end block"
                raise truncated(f"it ends {where}")
            if block == _ZERO:
                if extended:
                    raise Invalid(f"the extended header before byte {at} describes no member")
                tape.source.finish()
                return None
            if not _checksums(block):
                raise _damaged(at)
            fields = _HEADER.unpack(block)
            flag = fields[7]
            size = _number(fields[4], at)
            if size < 0:
                raise _damaged(at)
            if flag not in _EXTENDED:
                member = self._member(fields, size, at, extended)
                if member is not None:
                    return member
                extended = _Extended()
                continue
            what = _EXTENDED[flag]
            if size > self.limits.header_bytes:
                raise self.limits.too_large_header(what, at, size)
            data = tape.take(size)
            if len(data) < size:
                raise truncated(f"it ends inside the {what} at byte {at}")
            tape.skip(-size % BLOCK, f"the {what} at byte {at}")
            extended.add(flag, data, at)

    def _member(
        self, fields: tuple[bytes, ...], size: int, at: int, extended: _Extended
    ) -> TarMember | None:
        """The member a header (and the extended headers before it) declares, checked; None
        for the archive's root directory."""
        limits = self.limits
        self._count += 1
        if self._count > limits.members:
            raise limits.too_many_members()
        raw_name, mode, _, _, _, mtime, _, flag, raw_link, magic, *_, prefix = fields
        pax = extended.pax
        prefix = prefix.partition(b"\x00")[0]
        if magic == _POSIX_MAGIC and prefix:
            raw_name = prefix + b"/" + raw_name
        name = _name(raw_name, extended.name, pax, "path", at)
        if flag == b"S" or (pax and any(key.startswith("GNU.sparse.") for key in pax)):
            raise _refused(name, "sparse members are not supported")
        if "size" in pax:
            size = int(_pax_number(pax, "size", _PAX_SIZE, at))
        kind = _KINDS.get(flag, "other")
        if kind == "file" and name.endswith("/"):
            if size:
                raise _refused(name, "a name ending in '/' is a directory's, yet it holds data")
            kind = "directory"
        if name.startswith("/"):
            raise _refused(name, "its name is absolute")
        path = name.removeprefix("./")
        if kind == "directory":
            path = path.rstrip("/")
            if path in ("", "."):
                return None
        try:
            validate_path(path, limits.name_bytes)
        except Invalid as error:
            raise _refused(name, error.message) from None
        link = None
        if kind in ("symlink", "hardlink"):
            target = _name(raw_link, extended.link, pax, "linkpath", at)
            link = (
                self._symlink(path, target) if kind == "symlink" else self._hardlink(path, target)
            )
        data = 0  # the bytes of data that follow the header
        if kind == "file":
            data = size
            self._total += size
            if self._total > limits.total_bytes:
                raise limits.too_large_total()
        elif kind == "other" and flag not in _KINDS:
            data, size = size, 0  # an unknown kind: its data is skipped, by every reader
        elif kind == "directory":
            size = 0  # neither GNU tar nor tarfile reads data after a directory's header
        elif size:
            raise _refused(name, f"a {kind} member may not declare data ({size} bytes)")
        key = _key(path)
        seen = self._seen.get(key)
        if seen is not None and not seen == kind == "directory":
            raise _refused(name, "the archive holds another member of that name")
        self._seen[key] = kind
        time = _number(mtime, at)
        if "mtime" in pax:
            time = _floor_time(_pax_number(pax, "mtime", _PAX_TIME, at))
        member = TarMember(path, kind, size, _number(mode, at) & 0o7777, time, link)
        self._current, self._left, self._padding = member, data, -data % BLOCK
        return member

    def _symlink(self, path: str, target: str) -> str:
        if not target or has_control(target):
            raise _refused(path, "a symlink needs a target without control characters")
        if len(target.encode()) > self.limits.name_bytes:
            raise _refused(path, f"its target is longer than {self.limits.name_bytes} bytes")
        if target.startswith("/") or _escapes(path, target):
            raise Invalid(f"symlink {path!r} points outside the archive")
        return target

    def _hardlink(self, path: str, target: str) -> str:
        target = target.removeprefix("./")
        if self._seen.get(_key(target)) != "file":
            raise Invalid(
                f"hard link {path!r} names {target!r}, which is not an earlier regular file "
                "of the archive"
            )
        return target
