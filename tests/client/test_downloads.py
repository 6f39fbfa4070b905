"""download_file: through ``<dest>.part``, resuming what an earlier attempt left with a
``Range`` request, verifying the sha256, and starting again when the ``.part`` held other
bytes; a broken connection is resumed the same way; bytes that never hash right raise."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dataloft_client import ChecksumMismatch, Client
from tests.client.recording import Recording
from tests.client.scripted import Answer, scripted
from tests.conftest import User
from tests.support import LiveServer

DATA = bytes(range(251)) * 1200  # 301,200 bytes, no period of a power of two


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def recorded(server: LiveServer, alice: User, repo: str) -> tuple[Client, Recording]:
    with Client(server.url, alice.token) as uploader:
        uploader.upload_file(repo, "data.bin", DATA)
    transport = Recording()
    return Client(server.url, alice.token, transport=transport), transport


def test_a_part_holding_a_prefix_is_completed_with_a_range_request(
    recorded: tuple[Client, Recording], repo: str, tmp_path: Path
) -> None:
    client, transport = recorded
    dest = tmp_path / "data.bin"
    part = tmp_path / "data.bin.part"
    part.write_bytes(DATA[:100_000])
    seen: list[int] = []
    with client:
        info = client.download_file(repo, "data.bin", dest, progress=seen.append)
    assert dest.read_bytes() == DATA and not part.exists()
    assert info.sha256 == sha(DATA) and info.size == len(DATA)
    assert transport.ranges() == [("HEAD", None), ("GET", "bytes=100000-")]
    assert sum(seen) == len(DATA)


def test_a_part_of_other_bytes_is_found_out_and_downloaded_again(
    recorded: tuple[Client, Recording], repo: str, tmp_path: Path
) -> None:
    client, transport = recorded
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"\xff" * 100_000)
    with client:
        client.download_file(repo, "data.bin", dest)
    assert dest.read_bytes() == DATA
    assert transport.ranges() == [("HEAD", None), ("GET", "bytes=100000-"), ("GET", None)]


def test_a_whole_part_is_checked_and_a_longer_one_replaced(
    recorded: tuple[Client, Recording], repo: str, tmp_path: Path
) -> None:
    client, transport = recorded
    whole, longer = tmp_path / "whole.bin", tmp_path / "longer.bin"
    whole.with_name("whole.bin.part").write_bytes(DATA)
    longer.with_name("longer.bin.part").write_bytes(DATA + b"more")
    with client:
        client.download_file(repo, "data.bin", whole)
        client.download_file(repo, "data.bin", longer)
    assert whole.read_bytes() == DATA and longer.read_bytes() == DATA
    # whole: the range past the end is a 416, and the .part's digest is all that is left.
    assert transport.ranges() == [
        ("HEAD", None),
        ("GET", f"bytes={len(DATA)}-"),
        ("HEAD", None),
        ("GET", None),
    ]


def test_a_broken_connection_resumes_from_what_arrived(tmp_path: Path) -> None:
    digest = sha(DATA)
    headers = {"ETag": f'"{digest}"', "X-Loft-Version": "3"}
    rest = {**headers, "Content-Range": f"bytes 1000-{len(DATA) - 1}/{len(DATA)}"}
    answers = (Answer(200, DATA, headers, cut=1000), Answer(206, DATA[1000:], rest))
    waits: list[float] = []
    with scripted(*answers) as (url, script), Client(url, sleep=waits.append) as client:
        info = client.download_file("a/b", "data.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == DATA and info.version == 3
    second = script.seen[1]
    assert second.headers["range"] == "bytes=1000-"
    assert second.headers["if-range"] == f'"{digest}"'
    assert second.path == "/loft/v1/datasets/a/b/files/data.bin?version=3"
    assert len(waits) == 1


def test_bytes_that_do_not_hash_to_their_etag_raise_and_leave_nothing(tmp_path: Path) -> None:
    lie = Answer(200, b"not what was promised", {"ETag": f'"{sha(b"other")}"'})
    dest = tmp_path / "out.bin"
    with (
        scripted(lie) as (url, _),
        Client(url) as client,
        pytest.raises(ChecksumMismatch) as caught,
    ):
        client.download_file("a/b", "f", dest)
    assert sha(b"other") in caught.value.message
    assert not dest.exists() and not dest.with_name("out.bin.part").exists()
