"""Two server processes on one PostgreSQL database and one data directory (blobs and the
resumable uploads' partial files), as DESIGN.md §3 deploys them behind a load balancer:

- writers through both at once make one unbroken line of versions, each answer its own;
- an event stream on one process hears the other's commits, in order, once each, within a
  second of each (with the polling interval at 30 s: the wakeup is the NOTIFY's);
- one process killed (SIGKILL) in the middle of a resumable upload through it loses
  nothing it acknowledged: the other serves every write it acknowledged, keeps serving, and
  finishes the upload from its acknowledged offset.
And the Pigeon Optics event stream on one process wakes for commits on the other.

Each process is ``tests/debug_server.py`` (``ServerProcess``), on a fresh database."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.sse import SSEReader
from tests.support import ServerProcess, postgres_database, unique

WRITERS_PER_PROCESS = 4
COMMITS_PER_WRITER = 50
WAKEUP_SECONDS = 1.0
STREAMED_COMMITS = 20
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 1024 * 1024
UPLOAD_CHUNKS = 8


@dataclass
class Pair:
    a: ServerProcess
    b: ServerProcess
    token: str
    username: str
    password: str
    loft: Loft  # the test's own view of the database, as the ``dataloft`` command has

    def client(self, server: ServerProcess) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=server.url + "/loft/v1", headers=headers, timeout=60)


@pytest.fixture
def pair(settings: Settings, tmp_path: Path) -> Iterator[Pair]:
    if settings.is_sqlite:
        pytest.skip("several server processes need PostgreSQL (SQLite serves one process)")
    with postgres_database() as url, contextlib.ExitStack() as stack:
        shared = settings.model_copy(
            update={
                "database_url": url,
                "data_dir": tmp_path / "data",
                "blob_url": f"file://{tmp_path / 'data' / 'blobs'}",
                # Far longer than any wakeup the test allows: a wakeup in time is a NOTIFY.
                "event_poll_seconds": 30.0,
            }
        )
        # One after the other: the first makes the schema and the admin account.
        a = ServerProcess(shared, tmp_path / "a.log").start()
        stack.callback(a.stop)
        b = ServerProcess(shared, tmp_path / "b.log").start()
        stack.callback(b.stop)
        loft = stack.enter_context(Loft(shared))
        username, password = unique("w"), "password-" + unique()
        loft.accounts.create_user(SYSTEM, username, password)
        token = loft.auth.create_token(SYSTEM, username=username).secret
        yield Pair(a, b, token, username, password, loft)


def _dataset(pair: Pair) -> str:
    name = unique("ds")
    with pair.client(pair.a) as client:
        made = client.post("/datasets", json={"name": name})
    assert made.status_code == 201, made.text
    return name


def test_writers_through_two_processes_make_one_line_of_versions(pair: Pair) -> None:
    name = _dataset(pair)
    base = f"/datasets/{pair.username}/{name}/records/"

    def writer(server: ServerProcess, number: int) -> list[int]:
        versions = []
        with pair.client(server) as client:
            for i in range(COMMITS_PER_WRITER):
                written = client.put(f"{base}w{number}-{i}", json={"writer": number, "i": i})
                assert written.status_code == 201, written.text
                versions.append(written.json()["version"])
        return versions

    servers = [pair.a, pair.b] * WRITERS_PER_PROCESS
    with ThreadPoolExecutor(len(servers)) as pool:
        answered = [v for vs in pool.map(writer, servers, range(len(servers))) for v in vs]
    total = len(servers) * COMMITS_PER_WRITER
    assert sorted(answered) == list(range(1, total + 1))  # distinct, no gaps
    with pair.client(pair.b) as client:
        about = client.get(f"/datasets/{pair.username}/{name}").json()
        assert about["version"] == total, about
        record = client.get(f"{base}w7-49")
        assert record.json() == {"writer": 7, "i": 49}


def test_a_stream_on_one_process_hears_the_other_s_commits_at_once(pair: Pair) -> None:
    name = _dataset(pair)
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {pair.token}"}
    params = {"dataset": f"{pair.username}/{name}"}
    with (
        httpx.Client(base_url=pair.a.url + "/loft/v1", timeout=60) as listener,
        listener.stream("GET", "/events", headers=headers, params=params) as stream,
        pair.client(pair.b) as writer,
    ):
        reader = SSEReader(stream)
        assert reader.next(time.monotonic() + 10).comment == "connected"
        last_seq = 0
        for i in range(STREAMED_COMMITS):
            written = writer.put(f"/datasets/{pair.username}/{name}/records/r{i}", json=i)
            answered = time.monotonic()
            assert written.status_code == 201, written.text
            (event,) = reader.events(1, timeout=WAKEUP_SECONDS + 5)
            waited = time.monotonic() - answered
            assert waited < WAKEUP_SECONDS, f"commit {i} heard {waited:.3f} s after its answer"
            body = event.json()
            assert (body["kind"], body["version"]) == ("commit", written.json()["version"])
            assert event.id is not None and int(event.id) > last_seq  # in order, once each
            last_seq = int(event.id)


def test_the_pigeon_event_stream_on_one_process_wakes_for_the_other(pair: Pair) -> None:
    name = _dataset(pair)
    path = f"{pair.a.url}/datasets/{pair.username}:{name}/event-stream"
    with (
        httpx.Client(timeout=60, auth=(pair.username, pair.password)) as listener,
        listener.stream("GET", path) as stream,
        pair.client(pair.b) as writer,
    ):
        reader = SSEReader(stream)
        (state,) = reader.events(1)
        assert state.json()["version"] == 0
        for i in range(3):
            written = writer.put(f"/datasets/{pair.username}/{name}/records/r{i}", json=i)
            answered = time.monotonic()
            (event,) = reader.events(1, timeout=WAKEUP_SECONDS + 5)
            assert time.monotonic() - answered < WAKEUP_SECONDS
            assert event.json()["version"] == written.json()["version"]
            assert f"r{i}" in event.json()["records"]


def _patch(client: httpx.Client, url: str, offset: int, body: bytes) -> httpx.Response:
    headers = {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
    }
    return client.patch(url, content=body, headers=headers)


def _wait_until_locked(path: Path, server: ServerProcess) -> None:
    """Return once ``server`` holds the ``flock`` a writer of an upload takes on its
    partial file (read from /proc/locks: trying the lock ourselves could make the server's
    own attempt fail)."""
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(FileNotFoundError):
            inode = path.stat().st_ino
            for line in Path("/proc/locks").read_text().splitlines():
                # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF"
                fields = line.split()
                if (
                    fields[1] == "FLOCK"
                    and int(fields[4]) in server.processes()
                    and int(fields[5].rsplit(":", 1)[1]) == inode
                ):
                    return
        assert time.monotonic() < deadline, "the server never began writing the upload"
        time.sleep(0.01)


def _kill(server: ServerProcess) -> None:
    """SIGKILL the server and its worker processes: no goodbye, no cleanup."""
    for pid in server.processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert server.process is not None
    server.process.wait(timeout=30)


def test_a_process_killed_mid_upload_loses_nothing_it_acknowledged(pair: Pair) -> None:
    data = os.urandom(UPLOAD_CHUNKS * CHUNK)
    digest = hashlib.sha256(data).hexdigest()
    name = _dataset(pair)
    with pair.client(pair.a) as a:
        acknowledged = {}
        for i in range(10):
            written = a.put(f"/datasets/{pair.username}/{name}/records/r{i}", json={"i": i})
            assert written.status_code == 201
            acknowledged[f"r{i}"] = {"i": i}
        made = a.post("/uploads/", headers={**TUS, "Upload-Length": str(len(data))})
        assert made.status_code == 201, made.text
        url = made.headers["location"]
        offset = 0
        for _ in range(3):  # acknowledged chunks
            patched = _patch(a, url, offset, data[offset : offset + CHUNK])
            assert patched.status_code == 204, patched.text
            offset = int(patched.headers["upload-offset"])
        assert offset == 3 * CHUNK
    # The next PATCH: half its body sent, and A dies while it reads.
    parts = urlsplit(url)
    with socket.create_connection(("127.0.0.1", pair.a.port), timeout=30) as sock:
        head = (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {pair.token}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {CHUNK}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[offset : offset + CHUNK // 2])
        # A is writing it (its writer holds the partial file's lock): now it dies.
        _wait_until_locked(pair.loft.uploads.path_of(url.rsplit("/", 1)[1]), pair.a)
        _kill(pair.a)
    with pair.client(pair.b) as b:
        # Every write A acknowledged reads back through B.
        for record_id, value in acknowledged.items():
            found = b.get(f"/datasets/{pair.username}/{name}/records/{record_id}")
            assert found.status_code == 200 and found.json() == value, found.text
        # B serves writes and reads.
        after = b.put(f"/datasets/{pair.username}/{name}/records/after", json="B")
        assert after.status_code == 201 and after.json()["version"] == 11, after.text
        assert b.get(f"/datasets/{pair.username}/{name}/records/after").json() == "B"
        # The upload goes on through B from what A acknowledged (no more: what A had
        # not recorded is not trusted), and completes.
        on_b = url.replace(pair.a.url, pair.b.url)
        head_b = b.head(on_b, headers=TUS)
        assert head_b.status_code == 200, head_b.status_code
        resumed_at = int(head_b.headers["upload-offset"])
        assert resumed_at == offset
        done = _patch(b, on_b, resumed_at, data[resumed_at:])
        assert done.status_code == 204, done.text
        assert done.headers["loft-blob-sha256"] == digest
        assert b.head(f"/blobs/{digest}").status_code == 200
    stored = pair.loft.store.local_path(digest)
    assert stored is not None and hashlib.sha256(stored.read_bytes()).hexdigest() == digest
