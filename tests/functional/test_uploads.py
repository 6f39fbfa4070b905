"""Resumable uploads (tus 1.0.0) at ``/loft/v1/uploads/``: a real tus client (``tuspy``)
uploads unchanged, a client killed in the middle of a PATCH resumes from what arrived,
offsets outlive the server, checksums and declared digests are enforced, every protocol
error is the protocol's status, and expired uploads give their disk space back."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update
from tusclient.client import TusClient

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from dataloft.db.models import ResumableUpload as UploadRow
from dataloft.storage.local import LocalBlobStore
from tests.conftest import User
from tests.full_disk import STORED, FullDiskServer, native_message
from tests.functional.killed_upload import BLOCK, pattern
from tests.support import ROOT, Clock, LiveServer, own_server, sha, unique

TUS = {"Tus-Resumable": "1.0.0"}
BYTES = {**TUS, "Content-Type": "application/offset+octet-stream"}
MiB = 1024 * 1024


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create(client: httpx.Client, length: int, **headers: str) -> str:
    """A new upload of ``length`` bytes; its URL."""
    made = client.post("/uploads/", headers={**TUS, "Upload-Length": str(length), **headers})
    assert made.status_code == 201, made.text
    assert made.headers["tus-resumable"] == "1.0.0"
    location: str = made.headers["location"]
    return location


def patch(
    client: httpx.Client, url: str, offset: int, body: bytes, **headers: str
) -> httpx.Response:
    return client.patch(
        url, content=body, headers={**BYTES, "Upload-Offset": str(offset), **headers}
    )


def offset_of(client: httpx.Client, url: str) -> int:
    head = client.head(url, headers=TUS)
    assert head.status_code == 200, head.status_code
    return int(head.headers["upload-offset"])


def upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def checksum(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def error_of(response: httpx.Response) -> tuple[str, str]:
    error = response.json()["error"]
    return error["code"], error["message"]


# --- a real client ------------------------------------------------------------------------------


def test_tuspy_uploads_a_file_that_a_commit_names_and_reads_back(
    server: LiveServer, alice: User, dataset: str
) -> None:
    """tuspy as it comes, in chunks (several PATCHes, each with tuspy's sha1 checksum),
    with the sha256 declared in the metadata; the blob it makes is alice's to commit."""
    data = os.urandom(3 * MiB + 12345)
    digest = sha(data)
    tus = TusClient(
        server.url + "/loft/v1/uploads/", headers={"Authorization": f"Bearer {alice.token}"}
    )
    uploader = tus.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=512 * 1024,
        metadata={"sha256": digest, "filename": "photo.raw"},
        upload_checksum=True,
    )
    uploader.upload()
    url = cast("str | None", uploader.url)  # tuspy declares it None: it is set by upload()
    assert url is not None and url.startswith(server.url + "/loft/v1/uploads/")
    head = alice.client.head(url, headers=TUS)
    assert head.status_code == 200
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(data))
    assert head.headers["loft-blob-sha256"] == digest
    assert head.headers["cache-control"] == "no-store"
    assert head.headers["upload-metadata"] == f"sha256 {b64(digest)},filename {b64('photo.raw')}"
    assert alice.client.head(f"/blobs/{digest}").status_code == 200  # hers to name
    change = {"op": "put_file", "path": "photo.raw", "sha256": digest}
    committed = alice.client.post(f"{dataset}/commits", json={"changes": [change]})
    assert committed.status_code == 201, committed.text
    read = alice.client.get(f"{dataset}/files/photo.raw")
    assert read.status_code == 200 and read.content == data


def test_options_tells_what_the_server_offers(anon: httpx.Client, settings: Settings) -> None:
    answer = anon.options("/uploads/")  # needs no token, nor Tus-Resumable
    assert answer.status_code == 204
    assert answer.headers["tus-resumable"] == answer.headers["tus-version"] == "1.0.0"
    extensions = answer.headers["tus-extension"].split(",")
    assert extensions == [
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    ]
    assert answer.headers["tus-max-size"] == str(settings.max_file_size)
    assert answer.headers["tus-checksum-algorithm"].split(",")[0] == "sha256"


# --- resuming -----------------------------------------------------------------------------------

TOTAL = 200 * MiB
KILLED_AT = 100 * MiB


def _wait_for_the_writer(path: Path) -> None:
    """Return once no request writes to the upload: its writer holds an exclusive flock
    on the partial file until it has recorded what it kept."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)  # unlocks


def test_a_client_killed_mid_patch_resumes_from_what_arrived(
    server: LiveServer, loft: Loft, alice: User
) -> None:
    seed = unique("seed")
    block = pattern(seed)
    whole = hashlib.sha256()
    for _ in range(TOTAL // BLOCK):
        whole.update(block)
    digest = whole.hexdigest()
    url = create(alice.client, TOTAL, **{"Upload-Metadata": f"sha256 {b64(digest)}"})
    killed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.functional.killed_upload",
            url,
            alice.token,
            seed,
            str(TOTAL),
            str(KILLED_AT),
        ],
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL
    partial = loft.uploads.path_of(upload_id(url))
    _wait_for_the_writer(partial)  # the server has seen the client go, and kept its bytes
    offset = offset_of(alice.client, url)
    assert 0 < offset <= KILLED_AT, offset
    assert partial.stat().st_size == offset

    def rest() -> Iterator[bytes]:
        yield block[offset % BLOCK :]
        for _ in range(offset // BLOCK + 1, TOTAL // BLOCK):
            yield block

    resumed = alice.client.patch(
        url, content=rest(), headers={**BYTES, "Upload-Offset": str(offset)}
    )
    assert resumed.status_code == 204, resumed.text
    assert resumed.headers["upload-offset"] == str(TOTAL)
    assert resumed.headers["loft-blob-sha256"] == digest
    assert not partial.exists()
    assert loft.store.size(digest) == TOTAL
    if isinstance(loft.store, LocalBlobStore):  # and no staged copy stays behind
        assert not [p for p in loft.store.staging_dir.iterdir() if p.stat().st_size == TOTAL]
    with loft.db.read() as session:
        assert session.scalar(select(func.count()).where(Blob.digest == digest)) == 1


def test_the_offset_outlives_the_server(
    settings: Settings, loft: Loft, alice: User, session_clock: Clock
) -> None:
    """Stop the server in the middle of an upload; a new server, with a new core (no
    memory of the upload but the database's and the disk's), resumes and finishes it,
    hashing the bytes it did not see come from the disk."""
    data = os.urandom(2 * MiB)
    first = LiveServer(create_app(settings, loft)).start()
    try:
        with httpx.Client(base_url=first.url + "/loft/v1", headers=alice.client.headers) as client:
            url = create(client, len(data), **{"Upload-Metadata": f"sha256 {b64(sha(data))}"})
            assert patch(client, url, 0, data[:MiB]).status_code == 204
    finally:
        first.stop()
    with Loft(settings, clock=session_clock) as core:
        second = LiveServer(create_app(settings, core)).start()
        try:
            with httpx.Client(
                base_url=second.url + "/loft/v1", headers=alice.client.headers
            ) as client:
                url = url.replace(first.url, second.url)
                assert offset_of(client, url) == MiB
                done = patch(client, url, MiB, data[MiB:])
                assert done.status_code == 204, done.text
                assert done.headers["loft-blob-sha256"] == sha(data)
        finally:
            second.stop()


def test_a_server_stopped_mid_patch_keeps_what_arrived(
    settings: Settings, loft: Loft, server: LiveServer, alice: User
) -> None:
    """A server that stops while a body comes in (the client sent half of it, and waits)
    gives the request its grace period, then cancels it: what arrived is kept, as when the
    client goes away, and the upload resumes on another server."""
    live = LiveServer(create_app(settings, loft)).start()
    try:
        with httpx.Client(base_url=live.url + "/loft/v1", headers=alice.client.headers) as client:
            url = create(client, 2 * MiB)
        with _patch_socket(url, alice.token, offset=0, length=2 * MiB) as sock:
            sock.sendall(b"x" * MiB)
            live.stop()  # returns once the server has ended, its last request cancelled
    finally:
        live.stop()
    _wait_for_the_writer(loft.uploads.path_of(upload_id(url)))  # kept in a thread of its own
    url = url.replace(live.url, server.url)
    assert offset_of(alice.client, url) == MiB
    done = patch(alice.client, url, MiB, b"x" * MiB)
    assert done.status_code == 204 and done.headers["loft-blob-sha256"] == sha(b"x" * 2 * MiB)


# --- checksums ----------------------------------------------------------------------------------


def test_a_patch_that_does_not_match_its_checksum_is_460_and_kept_nowhere(
    alice: User, loft: Loft
) -> None:
    data = os.urandom(100_000)
    url = create(alice.client, len(data))
    first = patch(alice.client, url, 0, data[:50_000])
    assert first.status_code == 204
    wrong = patch(
        alice.client, url, 50_000, data[50_000:], **{"Upload-Checksum": checksum(b"other")}
    )
    assert wrong.status_code == 460, wrong.text
    assert error_of(wrong)[0] == "checksum_mismatch"
    assert offset_of(alice.client, url) == 50_000
    assert loft.uploads.path_of(upload_id(url)).stat().st_size == 50_000
    for algorithm in ("sha256", "sha1"):
        assert (
            patch(
                alice.client,
                url,
                50_000,
                data[50_000:],
                **{"Upload-Checksum": checksum(b"x", algorithm)},
            ).status_code
            == 460
        )
    right = patch(
        alice.client, url, 50_000, data[50_000:], **{"Upload-Checksum": checksum(data[50_000:])}
    )
    assert right.status_code == 204, right.text
    assert right.headers["loft-blob-sha256"] == sha(data)


def test_an_upload_whose_bytes_are_not_its_declared_sha256_is_refused(
    alice: User, loft: Loft
) -> None:
    data = os.urandom(10_000)
    declared = sha(b"something else")
    url = create(alice.client, len(data), **{"Upload-Metadata": f"sha256 {b64(declared)}"})
    refused = patch(alice.client, url, 0, data)
    assert refused.status_code == 400
    code, message = error_of(refused)
    assert code == "invalid" and sha(data) in message and declared in message
    assert alice.client.head(url, headers=TUS).status_code == 404
    assert not loft.uploads.path_of(upload_id(url)).exists()
    assert alice.client.head(f"/blobs/{sha(data)}").status_code == 404


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Upload-Checksum", "md5 XrY7u+Ae7tCTyyK7j1rNww=="),
        ("Upload-Checksum", "sha256 c2hvcnQ="),
        ("Upload-Checksum", "sha256"),
    ],
)
def test_a_checksum_the_server_cannot_check_is_a_400(alice: User, header: str, value: str) -> None:
    url = create(alice.client, 10)
    refused = patch(alice.client, url, 0, b"0123456789", **{header: value})
    assert refused.status_code == 400, refused.text
    assert offset_of(alice.client, url) == 0


# --- creating -----------------------------------------------------------------------------------


def test_creation_with_upload_takes_the_first_bytes_at_once(alice: User) -> None:
    data = os.urandom(50_000)
    made = alice.client.post(
        "/uploads/", content=data, headers={**BYTES, "Upload-Length": str(len(data))}
    )
    assert made.status_code == 201, made.text
    assert made.headers["upload-offset"] == str(len(data))
    assert made.headers["loft-blob-sha256"] == sha(data)
    assert "upload-expires" in made.headers
    partly = alice.client.post(
        "/uploads/", content=data[:100], headers={**BYTES, "Upload-Length": str(len(data))}
    )
    assert partly.status_code == 201 and partly.headers["upload-offset"] == "100"
    assert offset_of(alice.client, partly.headers["location"]) == 100


def test_an_empty_upload_is_finished_when_it_is_made(alice: User) -> None:
    made = alice.client.post("/uploads/", headers={**TUS, "Upload-Length": "0"})
    assert made.status_code == 201
    assert made.headers["upload-offset"] == "0"
    assert made.headers["loft-blob-sha256"] == sha(b"")


def test_bytes_the_store_holds_already_make_no_second_copy(
    alice: User, bob: User, loft: Loft
) -> None:
    data = os.urandom(STORED)
    assert bob.client.put(f"/blobs/{sha(data)}", content=data).status_code == 201
    url = create(alice.client, len(data))
    done = patch(alice.client, url, 0, data)
    assert done.status_code == 204 and done.headers["loft-blob-sha256"] == sha(data)
    assert list(loft.store.digests()).count(sha(data)) == 1
    assert alice.client.head(f"/blobs/{sha(data)}").status_code == 200  # now hers as well


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no length
        {"Upload-Length": "-1"},
        {"Upload-Length": "ten"},
        {"Upload-Defer-Length": "1"},
        {"Upload-Length": "10", "Upload-Metadata": "name not*base64"},
        {"Upload-Length": "10", "Upload-Metadata": "name YQ==,name Yg=="},
        {"Upload-Length": "10", "Upload-Metadata": "name YQ==, other Yg=="},
        {"Upload-Length": "10", "Upload-Metadata": f"sha256 {b64('ABC')}"},
        {"Upload-Length": "10", "Upload-Metadata": f"sha256 {b64('F' * 64)}"},
        {"Upload-Length": "10", "Upload-Metadata": "k " + "QUFB" * 1100},
    ],
)
def test_a_creation_the_protocol_does_not_allow_is_a_400(
    alice: User, headers: dict[str, str]
) -> None:
    refused = alice.client.post("/uploads/", headers={**TUS, **headers})
    assert refused.status_code == 400, refused.text
    assert error_of(refused)[0] == "invalid"


def test_metadata_as_tus_allows_it_is_kept_as_sent(alice: User) -> None:
    metadata = f"filename {b64('a,b c.txt')},is_confidential,empty ,odd~key! {b64('x')}"
    url = create(alice.client, 1, **{"Upload-Metadata": metadata})
    assert alice.client.head(url, headers=TUS).headers["upload-metadata"] == metadata
    none = create(alice.client, 1, **{"Upload-Metadata": ""})  # what tuspy sends for none
    assert "upload-metadata" not in alice.client.head(none, headers=TUS).headers


def test_an_upload_longer_than_the_largest_file_is_a_413(alice: User, settings: Settings) -> None:
    refused = alice.client.post(
        "/uploads/", headers={**TUS, "Upload-Length": str(settings.max_file_size + 1)}
    )
    assert refused.status_code == 413
    assert str(settings.max_file_size) in error_of(refused)[1]


# --- the protocol's errors ----------------------------------------------------------------------


def test_a_patch_at_another_offset_is_a_409(alice: User) -> None:
    url = create(alice.client, 10)
    assert patch(alice.client, url, 0, b"01234").status_code == 204
    for offset in (0, 3, 6):
        conflict = patch(alice.client, url, offset, b"56789")
        assert conflict.status_code == 409, conflict.text
        assert error_of(conflict)[0] == "conflict"
    assert offset_of(alice.client, url) == 5


def test_a_patch_not_sent_as_offset_octet_stream_is_a_415(alice: User) -> None:
    url = create(alice.client, 5)
    wrong = alice.client.patch(
        url,
        content=b"01234",
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"},
    )
    assert wrong.status_code == 415
    assert offset_of(alice.client, url) == 0


def test_bytes_past_the_length_are_a_400_and_none_is_kept(alice: User, loft: Loft) -> None:
    url = create(alice.client, 10)
    assert patch(alice.client, url, 0, b"0123").status_code == 204
    declared = patch(alice.client, url, 4, b"456789abc")  # Content-Length says too much
    assert declared.status_code == 400, declared.text

    def chunked() -> Iterator[bytes]:  # no Content-Length: found out as the bytes come
        yield b"45678"
        yield b"9abc"

    streamed = alice.client.patch(url, content=chunked(), headers={**BYTES, "Upload-Offset": "4"})
    assert streamed.status_code == 400, streamed.text
    assert offset_of(alice.client, url) == 4
    assert loft.uploads.path_of(upload_id(url)).read_bytes() == b"0123"
    assert patch(alice.client, url, 4, b"456789").headers["upload-offset"] == "10"


def test_every_request_but_options_must_speak_tus_1_0_0(alice: User) -> None:
    url = create(alice.client, 5)
    for method, target in (("POST", "/uploads/"), ("HEAD", url), ("PATCH", url), ("DELETE", url)):
        for version in (None, "0.2.2"):
            headers = {"Upload-Length": "5", "Upload-Offset": "0"}
            if version is not None:
                headers["Tus-Resumable"] = version
            refused = alice.client.request(method, target, headers=headers)
            assert refused.status_code == 412, (method, version)
            assert refused.headers["tus-version"] == "1.0.0"
            assert refused.headers["tus-resumable"] == "1.0.0"
    assert offset_of(alice.client, url) == 0  # the DELETE did nothing


def test_an_upload_is_its_creators_alone(
    alice: User, bob: User, admin: User, anon: httpx.Client
) -> None:
    url = create(alice.client, 5)
    for other in (bob.client, admin.client):
        assert other.head(url, headers=TUS).status_code == 404
        assert patch(other, url, 0, b"01234").status_code == 404
        assert other.delete(url, headers=TUS).status_code == 404
    assert anon.head(url, headers=TUS).status_code == 401
    assert patch(anon, url, 0, b"01234").status_code == 401
    assert anon.post("/uploads/", headers={**TUS, "Upload-Length": "5"}).status_code == 401
    assert offset_of(alice.client, url) == 0


def test_a_read_only_token_may_not_upload(server: LiveServer, loft: Loft, alice: User) -> None:
    url = create(alice.client, 5)
    reader = loft.auth.create_token(SYSTEM, username=alice.username, scope="read").secret
    with httpx.Client(
        base_url=server.url + "/loft/v1", headers={"Authorization": f"Bearer {reader}"}
    ) as client:
        assert client.post("/uploads/", headers={**TUS, "Upload-Length": "5"}).status_code == 403
        assert patch(client, url, 0, b"01234").status_code == 403
        assert client.head(url, headers=TUS).status_code == 403


def test_two_patches_of_one_upload_at_once_the_second_is_a_409(alice: User) -> None:
    """The first PATCH holds the upload from before it reads its body: it asks for
    ``100 Continue``, which the server sends when it starts reading, so the second comes
    while the first surely holds it."""
    url = create(alice.client, 10)
    with _patch_socket(url, alice.token, offset=0, length=10) as sock:
        second = patch(alice.client, url, 0, b"abcdefghij")
        assert second.status_code == 409, second.text
        sock.sendall(b"0123456789")
        assert _response_head(sock).startswith(b"HTTP/1.1 204")
    assert offset_of(alice.client, url) == 10


@contextlib.contextmanager
def _patch_socket(url: str, token: str, *, offset: int, length: int) -> Iterator[socket.socket]:
    """A PATCH of ``length`` bytes at ``offset`` whose body is the caller's to send on the
    socket: yielded once the server said ``100 Continue`` (it reads the body from then on,
    holding the upload)."""
    parts = urlsplit(url)
    assert parts.port is not None
    with socket.create_connection(("127.0.0.1", parts.port), timeout=30) as sock:
        head = (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        assert _response_head(sock).startswith(b"HTTP/1.1 100")
        yield sock


def _response_head(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk
    return received


def test_termination_removes_the_upload_and_its_bytes(alice: User, loft: Loft) -> None:
    url = create(alice.client, 10)
    assert patch(alice.client, url, 0, b"01234").status_code == 204
    partial = loft.uploads.path_of(upload_id(url))
    assert partial.exists()
    gone = alice.client.delete(url, headers=TUS)
    assert gone.status_code == 204 and gone.headers["tus-resumable"] == "1.0.0"
    assert not partial.exists()
    assert alice.client.head(url, headers=TUS).status_code == 404
    assert patch(alice.client, url, 5, b"56789").status_code == 404
    assert alice.client.delete(url, headers=TUS).status_code == 404


def test_a_method_override_is_the_method(alice: User) -> None:
    url = create(alice.client, 5)
    overridden = alice.client.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"})
    assert overridden.status_code == 204
    assert alice.client.head(url, headers=TUS).status_code == 404


# --- expiry and limits --------------------------------------------------------------------------


def test_an_expired_upload_is_gone_and_its_bytes_are_reclaimed(
    alice: User, loft: Loft, settings: Settings, clock: Clock
) -> None:
    clock.advance(settings.upload_expiry_seconds + 1)
    loft.uploads.reclaim()  # what earlier tests left: the sweep below takes the oldest first
    swept_url, kept_url = create(alice.client, 10), create(alice.client, 10)
    for url in (swept_url, kept_url):
        assert patch(alice.client, url, 0, b"01234").status_code == 204
    clock.advance(settings.upload_expiry_seconds / 2)
    assert patch(alice.client, kept_url, 5, b"56").status_code == 204  # starts its time again
    clock.advance(settings.upload_expiry_seconds / 2 + 1)
    assert alice.client.head(swept_url, headers=TUS).status_code == 404
    expired = patch(alice.client, swept_url, 5, b"56789")
    assert expired.status_code == 404 and "expired" in error_of(expired)[1]
    assert offset_of(alice.client, kept_url) == 7
    swept = loft.uploads.path_of(upload_id(swept_url))
    assert swept.exists()
    create(alice.client, 1)  # making an upload reclaims expired ones in passing
    assert not swept.exists()
    with loft.db.read() as session:
        assert session.get(UploadRow, upload_id(swept_url)) is None
    assert loft.uploads.path_of(upload_id(kept_url)).exists()


def test_gc_reclaims_expired_uploads_and_partial_files_without_a_row(
    alice: User, loft: Loft, settings: Settings, clock: Clock
) -> None:
    url = create(alice.client, 10)
    assert patch(alice.client, url, 0, b"01234").status_code == 204
    orphan = loft.uploads.path_of(secrets.token_hex(16))
    orphan.write_bytes(b"left by a crash")
    clock.advance(settings.upload_expiry_seconds + 1)
    report = loft.uploads.reclaim()
    assert report.uploads_removed >= 1 and report.bytes_removed >= 5
    assert report.orphan_files_removed >= 1
    assert not loft.uploads.path_of(upload_id(url)).exists() and not orphan.exists()


def test_a_user_has_at_most_so_many_uploads_in_progress(settings: Settings, tmp_path: Path) -> None:
    with own_server(settings, tmp_path, max_uploads_in_progress=2) as (live, loft):
        loft.accounts.create_user(SYSTEM, "carol", "password-carol")
        token = loft.auth.create_token(SYSTEM, username="carol").secret
        with httpx.Client(
            base_url=live.url + "/loft/v1", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            first, _ = create(client, 5), create(client, 5)
            refused = client.post("/uploads/", headers={**TUS, "Upload-Length": "5"})
            assert refused.status_code == 403
            assert "max_uploads_in_progress" in error_of(refused)[1]
            assert patch(client, first, 0, b"01234").status_code == 204  # finished: not counted
            create(client, 5)


def test_an_upload_left_finishing_by_a_crash_is_finished_by_the_next_head(
    alice: User, loft: Loft
) -> None:
    """A crash after the last bytes were recorded, before they became a blob: all of them
    are durable, and asking for the upload's state finishes it."""
    data = os.urandom(STORED)
    url = create(alice.client, len(data))
    assert patch(alice.client, url, 0, data[:-1]).status_code == 204
    # What the crash left: the whole file, the offset at its end, no blob.
    loft.uploads.path_of(upload_id(url)).write_bytes(data)
    with loft.db.write() as session:
        session.execute(
            update(UploadRow).where(UploadRow.id == upload_id(url)).values(received=len(data))
        )
    head = alice.client.head(url, headers=TUS)
    assert head.status_code == 200
    assert head.headers["loft-blob-sha256"] == sha(data)
    assert alice.client.head(f"/blobs/{sha(data)}").status_code == 200


# --- a full disk --------------------------------------------------------------------------------


def test_a_patch_on_a_full_disk_is_507_and_resumes_once_there_is_room(
    full_disk: FullDiskServer,
) -> None:
    data = os.urandom(STORED)
    with full_disk.native() as client:
        url = create(client, len(data))
        partial = full_disk.disk.root / "uploads" / upload_id(url)
        with full_disk.disk.full():
            refused = patch(client, url, 0, data)
            assert refused.status_code == 507, refused.text
            assert "full" in native_message(refused)
            assert offset_of(client, url) == 0
            assert not partial.exists() or partial.stat().st_size == 0
        done = patch(client, url, 0, data)
        assert done.status_code == 204, done.text
        assert done.headers["loft-blob-sha256"] == sha(data)
    assert full_disk.errors_logged() == []
