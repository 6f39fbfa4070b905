"""The byte stream under a tarball upload: the body, read once and front to back with
only ``read(n)``, decompressed (xz, gzip or bzip2) or taken as it is, and handed to the tar
parser (``core.tar_reading``) as a forward-only tape of uncompressed bytes.

Decompression is held to a limit while it runs, never after: each decoder call yields at
most ``PIECE`` bytes (the ``max_length`` of lzma's, bz2's and zlib's decoders), and every
byte is counted as it comes out. Once ``RATIO_FREE_BYTES`` have come out, the output may be
at most ``ratio`` times the body's bytes read so far (100 MiB of zeros is 15 kB of xz, and
is refused after 16 MiB). An xz stream may ask for at most ``XZ_MEMORY`` to be decoded
(its dictionary, which liblzma allocates up front).

Streams may be concatenated (``cat a.gz b.gz`` is a gzip file that gunzip reads as one
stream; xz and bzip2 do the same): after a stream's end, another starts if the next bytes
begin like one; anything else ends the tar stream and is ignored. When the tar archive
ends, ``finish`` decodes the rest of the current stream (its output discarded, still
counted), so that a stream cut short or damaged before its end (where xz and gzip keep
their checks) is refused rather than stored.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Protocol

from dataloft.core.errors import Invalid, TooLarge

KIB = 1024
MIB = 1024 * KIB
# The most bytes one decompressor call produces (and one read of a plain tarball asks for).
PIECE = MIB
# Compressed bytes read from the body at a time: 1 MiB, not 64 KiB, took a stored 256 MiB
# tarball from 1.24 to 0.94 s to index (16 times fewer decompressor calls and reads).
INPUT = MIB
# Output up to this size may expand without bound: a small tarball of text is often 1:50,
# and a few MiB of zeros cost nothing.
RATIO_FREE_BYTES = 16 * MIB
# xz -9 (64 MiB dictionary) needs 65 MiB to decode, the most of xz's presets (xz(1)); a
# stream asking for more was made to be expensive.
XZ_MEMORY = 80 * MIB


class BinaryReadable(Protocol):
    def read(self, n: int, /) -> bytes: ...


class RatioLimit(Protocol):
    """The part of ``TarLimits`` that decompression keeps."""

    @property
    def ratio(self) -> int: ...
    def too_compressed(self, compressed: int, produced: int) -> TooLarge: ...


def truncated(reason: str) -> Invalid:
    return Invalid(f"the tarball is truncated: {reason}")


class _Decoder(Protocol):
    """The interface lzma's and bz2's decompressors share, and ``_Gunzip`` copies."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Gunzip:
    """zlib's gzip decoder, made to keep its unconsumed input itself as ``_Decoder`` does."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(wbits=31)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def unused_data(self) -> bytes:
        return self._zlib.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        tail = self._zlib.unconsumed_tail
        out = self._zlib.decompress(tail + data if tail else data, max_length)
        # A full piece may leave output in the decoder with no input left to feed it.
        self.needs_input = not self._zlib.unconsumed_tail and len(out) < max_length
        return out


def _xz() -> _Decoder:
    return lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=XZ_MEMORY)


# Magic bytes, the format's name, and a decoder for one of its streams.
_FORMATS: tuple[tuple[bytes, str, Callable[[], _Decoder]], ...] = (
    (b"\xfd7zXZ\x00", "xz", _xz),
    (b"\x1f\x8b", "gzip", _Gunzip),
    (b"BZh", "bzip2", bz2.BZ2Decompressor),
)


class Body:
    """The body, read once: ``pull`` gives the tar stream's next piece (b"" at its end),
    ``consumed`` counts the body's bytes read."""

    name = "tar"

    def __init__(self, source: BinaryReadable, head: bytes) -> None:
        self._source = source
        self._head = head
        self.consumed = len(head)

    def _read(self, size: int) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        data = self._source.read(size)
        self.consumed += len(data)
        return data

    def pull(self) -> bytes:
        return self._read(PIECE)

    def finish(self) -> None:
        """Called at the archive's end: a plain tarball reads nothing more."""


class DecompressedBody(Body):
    """A compressed body: the decoder's output, at most ``PIECE`` a call, held to the ratio."""

    def __init__(
        self,
        source: BinaryReadable,
        head: bytes,
        form: tuple[bytes, str, Callable[[], _Decoder]],
        limits: RatioLimit,
    ) -> None:
        super().__init__(source, head)
        self._magic, self.name, self._new = form
        self._limits = limits
        self._decoder: _Decoder | None = self._new()
        self._produced = 0
        self._finishing = False

    def pull(self) -> bytes:
        while (decoder := self._decoder) is not None:
            if decoder.eof:
                self._next_stream(decoder.unused_data)
                continue
            data = b""
            if decoder.needs_input:
                data = self._read(INPUT)
                if not data:
                    raise truncated(f"its {self.name} data ends early")
            try:
                out = decoder.decompress(data, PIECE)
            except (lzma.LZMAError, OSError, EOFError, zlib.error) as error:
                if "Memory usage limit" in str(error):
                    raise TooLarge(
                        f"the tarball's xz data needs over {XZ_MEMORY} bytes of memory to "
                        "decompress (xz -9 needs 65 MiB)"
                    ) from None
                raise Invalid(f"the tarball's {self.name} data is corrupt ({error})") from None
            if out:
                self._produced += len(out)
                if self._produced > RATIO_FREE_BYTES and (
                    self._produced > self._limits.ratio * self.consumed
                ):
                    raise self._limits.too_compressed(self.consumed, self._produced)
                return out
        return b""

    def _next_stream(self, left: bytes) -> None:
        """After a stream's end: another one (gzip members are often concatenated), if what
        follows starts like one; anything else ends the tar stream and is ignored."""
        self._decoder = None
        if self._finishing:
            return
        while len(left) < len(self._magic) and (more := self._read(INPUT)):
            left += more
        if left.startswith(self._magic):
            self._head, self._decoder = left, self._new()

    def finish(self) -> None:
        self._finishing = True
        while self.pull():
            pass


def decompressing(source: BinaryReadable, head: bytes, limits: RatioLimit) -> Body | None:
    """The body whose first bytes are ``head`` (the rest still in ``source``), decompressed
    as those bytes say; None if they begin like no format known here."""
    for form in _FORMATS:
        if head.startswith(form[0]):
            return DecompressedBody(source, head, form, limits)
    return None


class Tape:
    """The uncompressed tar stream, read forward; ``offset`` counts its bytes taken."""

    def __init__(self, source: Body) -> None:
        self.source = source
        self._piece = b""
        self._at = 0
        self.offset = 0

    def some(self, size: int) -> bytes:
        """Between 1 and ``size`` bytes, b"" only at the stream's end."""
        if self._at == len(self._piece):
            self._piece, self._at = self.source.pull(), 0
        end = min(len(self._piece), self._at + size)
        whole = self._at == 0 and end == len(self._piece)
        piece = self._piece if whole else self._piece[self._at : end]
        self._at = end
        self.offset += len(piece)
        return piece

    def take(self, size: int) -> bytes:
        """``size`` bytes, fewer only at the stream's end."""
        data = self.some(size)
        if len(data) == size or not data:
            return data
        parts = [data]
        missing = size - len(data)
        while missing and (more := self.some(missing)):
            parts.append(more)
            missing -= len(more)
        return b"".join(parts)

    def skip(self, size: int, what: str) -> None:
        while size:
            data = self.some(min(size, PIECE))
            if not data:
                raise truncated(f"it ends inside {what}")
            size -= len(data)
