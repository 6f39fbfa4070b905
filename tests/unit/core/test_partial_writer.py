"""A request's bytes into a resumable upload's partial file (``PartialWriter``): at any
offset, around the page cache where the file system takes it, whole at ``flush``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataloft.core.partials import PartialWriter
from dataloft.storage.direct import ALIGN, BUFFER, worth_it


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("start", [0, 1, ALIGN - 1, ALIGN, 3 * BUFFER + 17])
def test_bytes_land_at_their_offset(tmp_path: Path, direct: bool, start: int) -> None:
    path = tmp_path / "partial"
    before = os.urandom(start)
    path.write_bytes(before)
    pieces = [os.urandom(size) for size in (5, ALIGN, 65_536, BUFFER + 3, 1, 2 * BUFFER)]
    fd = os.open(path, os.O_RDWR)
    try:
        writer = PartialWriter(fd, start, direct=direct and worth_it(tmp_path))
        for piece in pieces:
            writer.write(piece)
        writer.flush()
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == before + b"".join(pieces)


def test_abandoned_bytes_do_not_reach_the_file(tmp_path: Path) -> None:
    if not worth_it(tmp_path):
        pytest.skip(f"{tmp_path} is on a file system in memory: nothing is gathered")
    path = tmp_path / "partial"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDWR)
    try:
        writer = PartialWriter(fd, 0, direct=True)
        writer.write(b"x" * (BUFFER // 2))  # gathered, not yet written
        writer.abandon()
        writer.flush()  # nothing left to write
    finally:
        os.close(fd)
    assert path.read_bytes() == b""
