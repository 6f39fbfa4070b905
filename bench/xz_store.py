"""An ``.xz`` file whose data is stored, not compressed: LZMA2 "uncompressed" chunks in one
block (the .xz format, https://tukaani.org/xz/xz-file-format.txt, and LZMA2's chunk
headers). A benchmark tarball of random bytes would take ``xz -0`` minutes per GiB to
compress for nothing (random bytes do not compress); written this way it takes as long
as the CRC-32 of its bytes, and every xz reader reads it (``xz -t`` checks it)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import BinaryIO

_MAGIC = b"\xfd7zXZ\x00"
_FLAGS = b"\x00\x01"  # check: CRC-32
_CHUNK = 65536  # the most an LZMA2 uncompressed chunk holds


def _crc(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def write_stored_xz(out: BinaryIO, pieces: Iterable[bytes]) -> None:
    out.write(_MAGIC + _FLAGS + _crc(_FLAGS))
    # Block header: size/4 - 1, flags (one filter, no sizes), LZMA2 (0x21) with one
    # property byte (a 4 KiB dictionary: nothing is ever looked up), padding, CRC-32.
    header = b"\x02\x00\x21\x01\x00\x00\x00\x00"
    out.write(header + _crc(header))
    crc = 0
    size = 0
    packed = 0
    first = True
    for piece in pieces:
        for start in range(0, len(piece), _CHUNK):
            chunk = piece[start : start + _CHUNK]
            control = b"\x01" if first else b"\x02"  # the first one resets the dictionary
            first = False
            out.write(control + struct.pack(">H", len(chunk) - 1) + chunk)
            packed += 3 + len(chunk)
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    out.write(b"\x00")  # end of LZMA2 data
    packed += 1
    padding = (-packed) % 4
    out.write(b"\x00" * padding + struct.pack("<I", crc))
    unpadded = len(header) + 4 + packed + 4
    index = b"\x00" + _varint(1) + _varint(unpadded) + _varint(size)
    index += b"\x00" * ((-len(index)) % 4)
    index += _crc(index)
    out.write(index)
    backward = struct.pack("<I", len(index) // 4 - 1)
    out.write(_crc(backward + _FLAGS) + backward + _FLAGS + b"YZ")
