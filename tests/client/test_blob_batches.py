"""``Client.upload_blobs``: many small blobs as one tar stream (``POST /blobs/batch``),
against the live server."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from dataloft_client import BadRequest, Client, PutFile
from dataloft_client._blobs import GATHER, _tar_body, _tar_header
from dataloft_client._sources import Source, Tally


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_upload_blobs_sends_many_at_once(sdk: Client, repo: str, tmp_path: Path) -> None:
    contents = [os.urandom(n) for n in (0, 1, 511, 512, 513, 70_000)]
    on_disk = tmp_path / "file.bin"
    on_disk.write_bytes(contents[-1])
    blobs: dict[str, bytes | Path] = {sha(data): data for data in contents[:-1]}
    blobs[sha(contents[-1])] = on_disk  # a path works as well as bytes
    sent: list[int] = []

    stored = sdk.upload_blobs(blobs, progress=sent.append)
    assert stored == list(blobs)
    assert sum(sent) == sum(map(len, contents))  # the blobs' bytes, not the tar's
    assert sdk.missing_blobs(blobs) == []
    made = sdk.commit(repo, [PutFile(f"f{n}", digest) for n, digest in enumerate(blobs)])
    assert made.outcomes == ["added"] * len(blobs)
    assert sdk.read_file(repo, "f5") == contents[-1]


def test_a_blob_whose_bytes_differ_from_its_name_is_refused(sdk: Client) -> None:
    good, bad = os.urandom(100), os.urandom(100)
    wrong = sha(b"something else")
    with pytest.raises(BadRequest, match=wrong):
        sdk.upload_blobs({sha(good): good, wrong: bad})
    assert sdk.missing_blobs([sha(good), wrong]) == [wrong]  # the one before it is kept


@pytest.mark.parametrize("size", [0, 1, 4096, 8**11 - 1, 8**11, 1 << 40])
def test_tar_headers_are_the_ones_tarfile_writes(size: int) -> None:
    digest = sha(str(size).encode())
    member = tarfile.TarInfo(digest)
    member.size, member.mode, member.mtime = size, 0o644, 0
    assert _tar_header(digest, size) == member.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def test_a_tar_body_gathers_small_members_and_reads_back_whole(tmp_path: Path) -> None:
    contents = [os.urandom(n) for n in (4096, 0, 7, GATHER - 600, GATHER + 1, 3 * GATHER, 9)]
    paths = []
    for n, data in enumerate(contents):
        paths.append(tmp_path / f"{n}.bin")
        paths[-1].write_bytes(data)
    sources = [(sha(data), Source(path)) for data, path in zip(contents, paths, strict=True)]
    sent: list[int] = []
    body = _tar_body(sources, Tally(sent.append))

    chunks = list(body.chunks())
    stream = b"".join(chunks)
    assert len(stream) == body.length
    assert sum(sent) == sum(map(len, contents))
    assert len(chunks) < len(contents) * 3  # gathered, not header, bytes, padding apiece
    assert max(map(len, chunks)) <= 3 * GATHER  # and no larger than a large member's read
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        read = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert read == {sha(data): data for data in contents}
    assert list(body.chunks()) == chunks  # a retry sends the same bytes


def test_a_file_that_changed_after_it_was_measured(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    grown = Source(path)
    path.write_bytes(b"y" * 150)
    assert b"".join(grown.read_from(0)) == b"y" * 100  # the bytes announced, no more
    shrunk = Source(path)
    path.write_bytes(b"z" * 10)
    with pytest.raises(OSError, match="ended 140 bytes early"):
        b"".join(shrunk.read_from(0))
