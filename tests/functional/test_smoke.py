"""The server answers, on each database: a first end-to-end pass through the main paths."""

from __future__ import annotations

from tests.conftest import User


def test_upload_then_download_round_trips(alice: User, dataset: str) -> None:
    put = alice.client.put(f"{dataset}/files/a/b.bin", content=b"\x00\x01payload")
    assert put.status_code == 201, put.text
    assert put.json()["version"] == 1
    got = alice.client.get(f"{dataset}/files/a/b.bin")
    assert got.status_code == 200
    assert got.content == b"\x00\x01payload"
    assert got.headers["etag"] == f'"{put.json()["entry"]["sha256"]}"'
