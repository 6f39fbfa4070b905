"""A client that goes away in the middle of a download leaves no open file behind.

Every streamed body that holds a file (a blob being sent, an archive's member reader, the
spool an archive collects its records in) must let go of it when the client disconnects,
not when a garbage collection happens to find the abandoned iterator: with many aborted
downloads a server would otherwise run out of descriptors. Each case below starts a
download from the live server (which runs in this process), reads its first chunk, makes
sure the server is holding the resource at that moment, and closes the connection. Then,
with the cyclic garbage collector off and never called, the process's open descriptors
(``/proc/self/fd``) must come back to what they were before the download, within a few
seconds.

The client's receive buffer is pinned small (a fixed ``SO_RCVBUF`` also stops the kernel
from growing it), so with bodies of 16 MiB the server is still sending when the client
goes: the download cannot finish inside the socket buffers.

The last test pins what reference counting would otherwise hide: an archive closes the
member reader it is in the middle of itself, even while something else still refers to it.
"""

from __future__ import annotations

import base64
import gc
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dataloft.core.access import SYSTEM
from dataloft.core.archive_formats import FORMATS, Member
from dataloft.core.loft import Loft
from dataloft.storage.chunks import Chunks
from dataloft.storage.local import LocalBlobStore
from tests.support import LiveServer, open_files, sha, unique

pytestmark = pytest.mark.slow  # seconds of real work each: `-m 'not slow'` skips them

BIG = 16 * 1024 * 1024
RECEIVE_BUFFER = 64 * 1024
# Records of this size, eight of them: their JSON Lines pass the archive's 8 MiB in-memory
# spool, so the spool is a file on disk while the archive streams it.
RECORD_BYTES = 2 * 1024 * 1024
RECORDS = 8
RELEASE_SECONDS = 5.0
HOLD_SECONDS = 20.0

Descriptors = dict[int, str]


def descriptors() -> Descriptors:
    """This process's open descriptors and what each one names (Linux)."""
    found: Descriptors = {}
    for entry in Path("/proc/self/fd").iterdir():
        try:
            found[int(entry.name)] = str(entry.readlink())
        except OSError:  # closed since the listing (the listing's own descriptor, for one)
            continue
    return found


def opened_since(before: Descriptors) -> Descriptors:
    """Descriptors open now that were not open (to the same thing) in ``before``."""
    return {fd: target for fd, target in descriptors().items() if before.get(fd) != target}


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@dataclass(frozen=True)
class Library:
    """What the downloads read: ``files`` holds a 16 MiB file and a few records (one
    linking the file's blob as a Pigeon Optics attachment), ``records`` a small file and
    16 MiB of records."""

    server: LiveServer
    blob_dir: Path
    user: str
    password: str
    token: str
    files: str
    records: str
    digest: str


@pytest.fixture(scope="module")
def library(server: LiveServer, loft: Loft, blob_dir: Path) -> Iterator[Library]:
    user, password = unique("fd"), "password-" + unique()
    loft.accounts.create_user(SYSTEM, user, password)
    token = loft.auth.create_token(SYSTEM, username=user, name="tests").secret
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url + "/loft/v1", headers=headers, timeout=60) as native:
        files, records = unique("files"), unique("records")
        for name in (files, records):
            assert native.post("/datasets", json={"name": name}).status_code == 201
        big = os.urandom(BIG)
        put = native.put(f"/datasets/{user}/{files}/files/big.bin", content=big)
        assert put.status_code in (200, 201), put.text
        small = native.put(f"/datasets/{user}/{records}/files/small.bin", content=os.urandom(65536))
        assert small.status_code in (200, 201), small.text
        values = [
            base64.b64encode(os.urandom(RECORD_BYTES * 3 // 4)).decode() for _ in range(RECORDS)
        ]
        changes = [{"op": "put_record", "id": f"r{n}", "value": v} for n, v in enumerate(values)]
        commit = native.post(f"/datasets/{user}/{records}/commits", json={"changes": changes})
        assert commit.status_code == 201, commit.text
    link = f"hash://sha256/{sha(big)}?type=application%2Foctet-stream"
    with httpx.Client(base_url=server.url, auth=(user, password), timeout=60) as pigeon:
        for record_id, value in (("clip", {"video": link}), ("note", {"text": "hello"})):
            written = pigeon.put(f"/datasets/{user}:{files}/records/{record_id}", json=value)
            assert written.status_code == 204, written.text
    yield Library(server, blob_dir, user, password, token, files, records, sha(big))


@dataclass(frozen=True)
class Download:
    """A download to abort, and what the server must be holding while it streams."""

    url: str
    status: int
    holds: str  # "blob": the 16 MiB blob's file; "spool": an archive's records spool
    range: str | None = None
    pigeon: bool = False


DOWNLOADS = {
    "file": Download("/loft/v1/datasets/{user}/{files}/files/big.bin", 200, "blob"),
    "file-range": Download(
        "/loft/v1/datasets/{user}/{files}/files/big.bin", 206, "blob", range="bytes=1000-"
    ),
    "zip-in-a-file": Download("/loft/v1/datasets/{user}/{files}/archive.zip", 200, "blob"),
    "tar.gz-in-a-file": Download("/loft/v1/datasets/{user}/{files}/archive.tar.gz", 200, "blob"),
    "zip-in-the-records": Download("/loft/v1/datasets/{user}/{records}/archive.zip", 200, "spool"),
    "tar.gz-in-the-records": Download(
        "/loft/v1/datasets/{user}/{records}/archive.tar.gz", 200, "spool"
    ),
    "pigeon-export-attachments": Download(
        "/datasets/{user}:{files}/export/archive.json.zip?attachments=true",
        200,
        "blob",
        pigeon=True,
    ),
}


def _holds(library: Library, what: str) -> Callable[[Descriptors], bool]:
    """A test of whether descriptors include the resource ``what`` (``Download.holds``)."""
    digest = library.digest
    blob = str(library.blob_dir.resolve() / digest[:2] / digest[2:4] / digest)
    spools = tempfile.gettempdir() + os.sep  # an unlinked file there, once past 8 MiB

    def holds(found: Descriptors) -> bool:
        if what == "blob":
            return blob in found.values()
        return any(t.startswith(spools) and t.endswith(" (deleted)") for t in found.values())

    return holds


def _client(library: Library, download: Download) -> httpx.Client:
    small_buffer = [(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)]
    transport = httpx.HTTPTransport(socket_options=small_buffer)
    if download.pigeon:
        auth = httpx.BasicAuth(library.user, library.password)
        return httpx.Client(base_url=library.server.url, transport=transport, auth=auth)
    headers = {"Authorization": f"Bearer {library.token}"}
    return httpx.Client(base_url=library.server.url, transport=transport, headers=headers)


def _fetch_whole(library: Library, download: Download, url: str) -> None:
    """The download once to the end: the server's threads and connections are then the
    ones a download uses, so what stays open after an aborted one is the download's."""
    headers = {"Range": download.range} if download.range else {}
    with _client(library, download) as client:
        response = client.get(url, headers=headers, timeout=120)
        assert response.status_code == download.status, response.text


@pytest.mark.parametrize("case", list(DOWNLOADS))
def test_an_aborted_download_releases_its_descriptors(library: Library, case: str) -> None:
    download = DOWNLOADS[case]
    url = download.url.format(user=library.user, files=library.files, records=library.records)
    headers = {"Range": download.range} if download.range else {}
    holds = _holds(library, download.holds)
    start = descriptors()
    _fetch_whole(library, download, url)
    finished = wait_until(lambda: not holds(opened_since(start)), RELEASE_SECONDS)
    assert finished, f"a finished download still holds: {opened_since(start)}"
    gc.disable()
    try:
        before = descriptors()
        with _client(library, download) as client, client.stream("GET", url, headers=headers) as r:
            assert r.status_code == download.status, r.read()
            # Keep the iterator: httpx closes the connection as soon as it is dropped.
            body = r.iter_raw()
            assert next(body)  # the first chunk, then the client goes
            holding = wait_until(lambda: holds(opened_since(before)), HOLD_SECONDS)
            assert holding, f"the server never held the {download.holds} while sending"
        released = wait_until(lambda: not opened_since(before), RELEASE_SECONDS)
        assert released, f"still open after the client went: {opened_since(before)}"
    finally:
        gc.enable()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_closing_an_archive_closes_the_member_it_is_reading(tmp_path: Path, fmt: str) -> None:
    """The archive closes its member's reader itself: it does not count on being the last
    to refer to it (a traceback or a reference cycle elsewhere may hold it too)."""
    store = LocalBlobStore(tmp_path / "blobs")
    data = os.urandom(3 * 1024 * 1024)
    staged = store.stage()
    staged.write(data)
    staged.publish(sha(data))
    readers: list[Chunks] = []  # the other references

    def read() -> Chunks:
        readers.append(store.read(sha(data), chunk_size=1024 * 1024))
        return readers[-1]

    writer, _ = FORMATS[fmt]
    stream = writer([Member("big.bin", len(data), 0.0, read)])
    for chunk in stream:  # up to the first piece sent after the member's reader opened
        assert chunk
        if readers:
            break
    assert open_files(store.root)  # in the middle of the member
    stream.close()
    assert len(readers) == 1
    assert open_files(store.root) == []
