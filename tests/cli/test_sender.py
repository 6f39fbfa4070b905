"""The push's ``Sender``, in process against the live server: it sends the bytes it is
handed rather than reading the files again, sends each blob once, and holds no more bytes
than it may (an offer then waits for uploads to finish, it does not deadlock)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from dataloft.cli import upload
from dataloft.cli.progress import LineDisplay
from dataloft.cli.tree import LocalFile
from dataloft.cli.upload import Sender
from dataloft_client import Client
from tests.conftest import User
from tests.support import LiveServer


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local(path: str, data: bytes) -> LocalFile:
    return LocalFile(path, len(data), 0, sha256=sha(data))


def missing(client: Client, contents: list[bytes]) -> list[str]:
    return client.missing_blobs([sha(data) for data in contents])


@pytest.fixture
def client(server: LiveServer, alice: User) -> Iterator[Client]:
    with Client(server.url, alice.token) as client:
        yield client


def test_bytes_handed_over_are_sent_as_they_are(client: Client, tmp_path: Path) -> None:
    held, on_disk = os.urandom(1000), os.urandom(1000)
    (tmp_path / "a.bin").write_bytes(b"changed since it was hashed")
    (tmp_path / "b.bin").write_bytes(on_disk)
    shown = io.StringIO()
    with Sender(client, tmp_path, LineDisplay(Console(file=shown)), 4, set()) as sender:
        # a.bin was hashed as ``held``: what is sent is those bytes, which match the sha256
        # (the file, read again, would not: the server would refuse the batch).
        sender.offer([local("a.bin", held), local("b.bin", on_disk)], {"a.bin": held})
        sender.offer([local("copy.bin", held)])  # the same blob again: asked about once
        sender.finish()
    assert (sender.files, sender.bytes) == (2, 2000)
    assert missing(client, [held, on_disk]) == []
    assert "uploaded 2.0 kB in 2 files" in shown.getvalue()


def test_an_offer_waits_for_room(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "HOLD_BYTES", 3000)  # about three files' worth
    monkeypatch.setattr(upload, "BATCH_FILES", 2)
    contents = [os.urandom(1000) for _ in range(20)]
    files = [local(f"f{n}.bin", data) for n, data in enumerate(contents)]
    with Sender(client, tmp_path, LineDisplay(Console(file=io.StringIO())), 2, set()) as sender:
        for file, data in zip(files, contents, strict=True):
            sender.offer([file], {file.path: data})
            assert sender.held_bytes <= 3000
        sender.finish()
    assert sender.files == 20 and sender.held_bytes == 0
    assert missing(client, contents) == []


def test_blobs_the_dataset_holds_are_not_asked_about(client: Client, tmp_path: Path) -> None:
    data = os.urandom(100)
    with Sender(
        client, tmp_path, LineDisplay(Console(file=io.StringIO())), 2, {sha(data)}
    ) as sender:
        sender.offer([local("x.bin", data)], {"x.bin": data})
        sender.finish()
    assert (sender.files, sender.held_bytes) == (0, 0)
    assert missing(client, [data]) == [sha(data)]  # nothing was sent
