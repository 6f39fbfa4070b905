"""``Client.upload_blobs``: many small blobs as one tar stream (``POST /blobs/batch``),
against the live server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dataloft_client import BadRequest, Client, PutFile


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
