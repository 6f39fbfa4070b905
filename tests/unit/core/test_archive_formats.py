"""dataloft.core.archive_formats: zip and tar streams, read back with the standard library."""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator

import pytest

from dataloft.core.archive_formats import FORMATS, TAR_RECORD, Member, tar_stream, zip_stream

MTIME = 1_700_000_000  # even: zip keeps time in 2-second steps
LONG_NAME = "deep/" + "d" * 60 + "/" + "n" * 70 + "/file-with-a-long-name.bin"
UNICODE_NAME = "données/ünïcødé ✓ 日本.txt"


def _chunked(*chunks: bytes) -> Callable[[], Iterator[bytes]]:
    def produce() -> Iterator[bytes]:
        yield from chunks

    return produce


def _file(name: str, *chunks: bytes, modified: float = MTIME) -> Member:
    return Member(name, sum(len(c) for c in chunks), modified, _chunked(*chunks))


def _symlink(name: str, target: str, modified: float = MTIME) -> Member:
    return Member(name, 0, modified, _chunked(), symlink_target=target)


def _members() -> list[Member]:
    return [
        _file("a/several.bin", b"first-", b"second-", os.urandom(3000), b"-last"),
        _file("empty.txt"),
        _file(UNICODE_NAME, "ünïcødé body ✓".encode()),
        _file(LONG_NAME, b"x" * 513, b"y" * 511),
        _symlink("a/link", "several.bin"),
        _file("b/late.txt", b"later", modified=MTIME + 3600),
    ]


def _contents(members: list[Member]) -> dict[str, bytes]:
    return {m.name: b"".join(m.chunks()) for m in members if m.symlink_target is None}


def _collect(stream: Iterator[bytes]) -> tuple[bytes, int]:
    pieces = list(stream)
    assert all(isinstance(p, bytes) for p in pieces)
    return b"".join(pieces), len(pieces)


# --- zip ---------------------------------------------------------------------------------------


def test_zip_round_trip() -> None:
    members = _members()
    data, _ = _collect(zip_stream(members))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [m.name for m in members]
        for name, body in _contents(members).items():
            info = zf.getinfo(name)
            assert zf.read(name) == body
            assert info.file_size == len(body)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.external_attr >> 16 == 0o100644
        link = zf.getinfo("a/link")
        assert link.external_attr >> 16 == 0o120777
        assert zf.read("a/link") == b"several.bin"
        assert link.compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("a/several.bin").date_time == time.gmtime(MTIME)[:6]
        assert zf.getinfo("b/late.txt").date_time == time.gmtime(MTIME + 3600)[:6]


def test_zip_member_names_are_utf8() -> None:
    data, _ = _collect(zip_stream([_file(UNICODE_NAME, b"u")]))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
        assert info.filename == UNICODE_NAME
        assert info.flag_bits & 0x800  # the "names are UTF-8" flag


def test_zip_dates_before_1980_are_clamped() -> None:
    data, _ = _collect(zip_stream([_file("old.txt", b"old", modified=0)]))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.getinfo("old.txt").date_time == (1980, 1, 1, 0, 0, 0)


def test_empty_zip() -> None:
    data, _ = _collect(zip_stream([]))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == []


# --- tar ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_tar_round_trip(compressed: bool) -> None:
    members = _members()
    data, _ = _collect(tar_stream(members, gzip=compressed))
    if compressed:
        assert data[:2] == b"\x1f\x8b"
        assert len(gzip.decompress(data)) % TAR_RECORD == 0
    else:
        assert len(data) % TAR_RECORD == 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz" if compressed else "r:") as tf:
        infos = tf.getmembers()
        assert [i.name for i in infos] == [m.name for m in members]
        contents = _contents(members)
        for info in infos:
            if info.name in contents:
                assert info.isfile()
                assert info.size == len(contents[info.name])
                extracted = tf.extractfile(info)
                assert extracted is not None
                assert extracted.read() == contents[info.name]
                assert info.mode == 0o644
            assert info.uname == "dataloft"
            assert info.gname == "dataloft"
        link = tf.getmember("a/link")
        assert link.issym()
        assert link.linkname == "several.bin"
        assert tf.getmember("a/several.bin").mtime == MTIME
        assert tf.getmember("b/late.txt").mtime == MTIME + 3600


def test_tar_truncates_fractional_mtimes() -> None:
    data, _ = _collect(tar_stream([_file("f", b"1", modified=MTIME + 0.9)]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getmember("f").mtime == MTIME


def test_tar_long_and_unicode_names_survive() -> None:
    long_unicode = "ü" * 120 + "/" + "ß" * 90
    data, _ = _collect(tar_stream([_file(long_unicode, b"z"), _symlink("l", long_unicode)]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames() == [long_unicode, "l"]
        assert tf.getmember("l").linkname == long_unicode


def test_empty_tar() -> None:
    data, _ = _collect(tar_stream([]))
    assert data == b"\0" * TAR_RECORD
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getmembers() == []


def test_tar_member_shorter_than_declared_raises() -> None:
    short = Member("short.bin", 10, MTIME, _chunked(b"12345"))
    with pytest.raises(OSError, match=re.escape("short.bin: expected 10 bytes, read 5")):
        list(tar_stream([short]))
    with pytest.raises(OSError, match=re.escape("short.bin")):
        list(tar_stream([short], gzip=True))


def test_tar_member_longer_than_declared_raises() -> None:
    long = Member("long.bin", 3, MTIME, _chunked(b"12345"))
    with pytest.raises(OSError, match=re.escape("long.bin: expected 3 bytes, read 5")):
        list(tar_stream([long]))


# --- streaming ---------------------------------------------------------------------------------

CHUNK = 64 * 1024
N_CHUNKS = 6


def _logged_member(log: list[int]) -> Member:
    def produce() -> Iterator[bytes]:
        for index in range(N_CHUNKS):
            log.append(index)
            yield bytes([65 + index]) * CHUNK

    return Member("big.bin", CHUNK * N_CHUNKS, MTIME, produce)


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_archives_stream_member_chunks(fmt: str) -> None:
    """The first chunk's bytes leave the generator before the member's last chunk is read."""
    log: list[int] = []
    writer, _ = FORMATS[fmt]
    stream = writer([_logged_member(log)])
    pieces: list[bytes] = []
    produced_when_first_seen: int | None = None
    for piece in stream:
        pieces.append(piece)
        if produced_when_first_seen is None and b"A" * 1024 in piece:
            produced_when_first_seen = len(log)
    assert produced_when_first_seen is not None
    assert produced_when_first_seen < N_CHUNKS
    assert len([p for p in pieces if p]) > 1
    assert max(len(p) for p in pieces) <= CHUNK + 4096
    body = b"".join(bytes([65 + i]) * CHUNK for i in range(N_CHUNKS))
    data = b"".join(pieces)
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.read("big.bin") == body
    else:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            extracted = tf.extractfile("big.bin")
            assert extracted is not None
            assert extracted.read() == body


def test_tar_gz_yields_several_pieces_for_incompressible_data() -> None:
    chunks = [os.urandom(CHUNK) for _ in range(N_CHUNKS)]
    member = Member("noise.bin", CHUNK * N_CHUNKS, MTIME, _chunked(*chunks))
    data, count = _collect(tar_stream([member], gzip=True))
    assert count > 1
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        extracted = tf.extractfile("noise.bin")
        assert extracted is not None
        assert extracted.read() == b"".join(chunks)


def test_chunks_are_read_lazily() -> None:
    """Creating the stream reads nothing; members are read one after the other."""
    log: list[int] = []
    stream = tar_stream([_logged_member(log)])
    assert log == []
    next(stream)  # the header
    assert log == []
    list(stream)
    assert log == list(range(N_CHUNKS))


def test_formats_table() -> None:
    assert {name: media for name, (_, media) in FORMATS.items()} == {
        "zip": "application/zip",
        "tar": "application/x-tar",
        "tar.gz": "application/gzip",
    }
    data, _ = _collect(FORMATS["tar.gz"][0]([_file("x", b"gz")]))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        extracted = tf.extractfile("x")
        assert extracted is not None
        assert extracted.read() == b"gz"
