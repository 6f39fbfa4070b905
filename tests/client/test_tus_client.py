"""The client side of tus, against a scripted server: what it sends, how it goes on after a
failed PATCH (from the offset a HEAD reports), and how a new client finds an upload that
an earlier one left (the resume file)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from dataloft_client import Client, DataloftError, NetworkError
from tests.client.scripted import DROP, Answer, scripted

DATA = bytes(range(256)) * 64  # 16 KiB
DIGEST = hashlib.sha256(DATA).hexdigest()
TUS = {"Tus-Resumable": "1.0.0"}


def created(url: str) -> Answer:
    return Answer(201, b"", {**TUS, "Location": f"{url}/loft/v1/uploads/u1"})


def offset(n: int, done: bool = False) -> Answer:
    headers = {**TUS, "Upload-Offset": str(n), "Upload-Length": str(len(DATA))}
    if done:
        headers["Loft-Blob-Sha256"] = DIGEST
    return Answer(204 if n else 200, b"", headers)


def test_a_large_blob_goes_through_tus_and_a_failed_patch_resumes_from_the_offset(
    tmp_path: Path, config_dir: Path
) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    not_held = Answer(404, b'{"error": {"code": "not_found", "message": "send it"}}')
    progress: list[int] = []
    waits: list[float] = []
    with scripted() as (url, script):
        script.answers += [not_held, created(url), DROP, Answer(200, b"", offset(4096).headers)]
        script.answers += [offset(len(DATA), done=True)]
        client = Client(url, "t", resumable_threshold=1024, sleep=waits.append)
        with client:
            digest = client.upload_blob(path, progress=progress.append)
    assert digest == DIGEST
    head, post, first, probe, second = script.seen
    assert (head.method, head.path) == ("HEAD", f"/loft/v1/blobs/{DIGEST}")
    assert (post.method, post.path) == ("POST", "/loft/v1/uploads/")
    assert post.headers["upload-length"] == str(len(DATA))
    metadata = dict(pair.split(" ") for pair in post.headers["upload-metadata"].split(","))
    assert base64.b64decode(metadata["sha256"]).decode() == DIGEST
    assert base64.b64decode(metadata["filename"]).decode() == "big.bin"
    assert (first.method, first.headers["upload-offset"], first.body) == ("PATCH", "0", DATA)
    assert first.headers["content-type"] == "application/offset+octet-stream"
    assert probe.method == "HEAD" and probe.path == "/loft/v1/uploads/u1"
    assert (second.headers["upload-offset"], second.body) == ("4096", DATA[4096:])
    assert all(seen.headers["tus-resumable"] == "1.0.0" for seen in script.seen[1:])
    assert len(waits) == 1 and sum(progress) == len(DATA)
    assert json.loads((config_dir / "uploads.json").read_text()) == {}


def test_a_new_client_resumes_the_upload_an_earlier_one_left(
    tmp_path: Path, config_dir: Path
) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    with scripted() as (url, script):
        not_held = Answer(404, b"")
        script.answers += [not_held, created(url), DROP]
        first = Client(url, "t", resumable_threshold=1024, retries=0)
        with first, pytest.raises(NetworkError):
            first.upload_blob(path)
        saved = json.loads((config_dir / "uploads.json").read_text())
        assert [entry["url"] for entry in saved.values()] == [f"{url}/loft/v1/uploads/u1"]

        script.answers += [not_held, offset(10_000), offset(len(DATA), done=True)]
        with Client(url, "t", resumable_threshold=1024) as second:
            assert second.upload_blob(path) == DIGEST
        _, probe, patch = script.seen[3:]
        assert (probe.method, probe.path) == ("HEAD", "/loft/v1/uploads/u1")
        assert (patch.headers["upload-offset"], patch.body) == ("10000", DATA[10_000:])
    assert json.loads((config_dir / "uploads.json").read_text()) == {}


def test_an_upload_the_server_forgot_is_started_again(tmp_path: Path, config_dir: Path) -> None:
    with scripted() as (url, script):
        gone = Answer(404, b'{"error": {"code": "not_found", "message": "expired"}}')
        script.answers += [Answer(404, b""), created(url), gone, created(url)]
        script.answers += [offset(len(DATA), done=True)]
        with Client(url, "t", resumable_threshold=1024) as client:
            assert client.upload_blob(DATA) == DIGEST
    methods = [seen.method for seen in script.seen]
    assert methods == ["HEAD", "POST", "PATCH", "POST", "PATCH"]


def test_an_upload_location_on_another_host_is_refused(tmp_path: Path) -> None:
    elsewhere = Answer(201, b"", {**TUS, "Location": "http://elsewhere.example/uploads/1"})
    with (
        scripted(Answer(404, b""), elsewhere) as (url, script),
        Client(url, "t", resumable_threshold=1024) as client,
        pytest.raises(DataloftError, match="elsewhere"),
    ):
        client.upload_blob(DATA)
    assert len(script.seen) == 2
