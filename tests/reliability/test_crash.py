"""A server killed with SIGKILL restarts with every acknowledged write intact, no partial
version and no visible half-written blob. The server runs as a real ``dataloft serve``
subprocess on its own data directory and database (a fresh one, not the session's)."""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port, postgres_database, unique
from tests.support import pages as _pages

pytestmark = pytest.mark.slow  # seconds of real work each: `-m 'not slow'` skips them

ADMIN_PASSWORD = "crash-test-admin-password"
DATALOFT = Path(sys.executable).parent / "dataloft"
HTTP_TIMEOUT = httpx.Timeout(20.0)
STARTUP_SECONDS = 40.0
INLINE_LIMIT = 4 * 1024  # Settings.inline_blob_limit: larger blobs go to the store
RECORDS_PER_COMMIT = 50
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ServerProcess:
    """``dataloft serve`` as a child process that can be SIGKILLed and started again on
    the same data directory and database."""

    def __init__(self, data_dir: Path, database_url: str, log_path: Path) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATALOFT_")}
        env["DATALOFT_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        env["DATALOFT_DATABASE_URL"] = self.database_url
        return env

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "<no log>"

    def start(self) -> None:
        assert self.proc is None, "already running"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = [str(DATALOFT), "serve", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--data-dir", str(self.data_dir)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                pytest.fail(f"server exited with {code} on start:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/loft/v1/licences", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"server not ready in {STARTUP_SECONDS} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)
        assert proc.returncode is not None

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url + "/loft/v1", headers=headers, timeout=HTTP_TIMEOUT)

    def login(self) -> str:
        with self.client() as anon:
            response = anon.post(
                "/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token


@pytest.fixture
def crash_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same kind as the session's, but fresh and private to one test."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'data' / 'dataloft.sqlite3'}"
    elif database_url.startswith("postgresql"):
        with postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind in {database_url!r}")


@pytest.fixture
def crash_server(crash_database: str, tmp_path: Path) -> Iterator[ServerProcess]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    server = ServerProcess(data_dir, crash_database, tmp_path / "server.log")
    try:
        yield server
    finally:
        server.kill()


def _create_dataset(client: httpx.Client) -> str:
    name = unique("crash")
    response = client.post("/datasets", json={"name": name})
    assert response.status_code == 201, response.text
    return f"/datasets/admin/{name}"


def _head(client: httpx.Client, dataset: str) -> int:
    response = client.get(dataset)
    assert response.status_code == 200, response.text
    head: int = response.json()["version"]
    return head


def _history(client: httpx.Client, dataset: str, head: int) -> dict[int, dict[str, Any]]:
    """Versions 0..head, contiguous, each the child of the one before."""
    versions = list(_pages(client, f"{dataset}/versions"))
    assert [v["number"] for v in versions] == list(range(head, -1, -1))
    for version in versions:
        expected_parent = None if version["number"] == 0 else version["number"] - 1
        assert version["parent"] == expected_parent, version
    return {v["number"]: v for v in versions}


def _store_digests(blob_dir: Path) -> dict[str, int]:
    """Every file in the blob store outside its staging directory, checked to sit at
    ``ab/cd/<digest>`` and to hash to its own name. Returns digest -> size."""
    found: dict[str, int] = {}
    for path in sorted(blob_dir.rglob("*")):
        rel = path.relative_to(blob_dir)
        if rel.parts[0] == "tmp" or path.is_dir():
            continue
        name = path.name
        assert _DIGEST.match(name), f"stray file in the blob store: {rel}"
        assert rel.parts == (name[:2], name[2:4], name), f"blob at the wrong place: {rel}"
        data = path.read_bytes()
        assert _sha256(data) == name, f"blob {rel} does not hash to its name ({len(data)} bytes)"
        found[name] = len(data)
    return found


def test_kill_during_upload_keeps_acknowledged_writes_and_hides_the_partial_blob(
    crash_server: ServerProcess,
) -> None:
    server = crash_server
    server.start()
    token = server.login()
    files = {
        "small.txt": b"small and inline\n",
        "medium.bin": os.urandom(300 * 1024),
        "dir/big.bin": os.urandom(3 * 1024 * 1024 + 17),
    }
    records: dict[str, Any] = {"rec-a": {"n": 1, "tags": ["x", "y"]}, "rec-b": [1, 2.5, None]}
    file_versions: dict[str, int] = {}
    record_versions: dict[str, int] = {}
    with server.client(token) as client:
        dataset = _create_dataset(client)
        for path, data in files.items():
            response = client.put(f"{dataset}/files/{path}", content=data)
            assert response.status_code == 201, response.text
            assert response.json()["entry"]["sha256"] == _sha256(data)
            file_versions[path] = response.json()["version"]
        for record_id, value in records.items():
            response = client.put(f"{dataset}/records/{record_id}", json=value)
            assert response.status_code == 201, response.text
            record_versions[record_id] = response.json()["version"]
    last_acked = len(files) + len(records)
    assert sorted([*file_versions.values(), *record_versions.values()]) == list(
        range(1, last_acked + 1)
    )

    chunk, total = 64 * 1024, 24 * 1024 * 1024
    partial = os.urandom(total)
    partial_digest = _sha256(partial)
    sent = 0
    several_mib = threading.Event()
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def body() -> Iterator[bytes]:
        nonlocal sent
        for offset in range(0, total, chunk):
            if stop.is_set():
                return
            yield partial[offset : offset + chunk]
            sent += chunk
            if sent >= 6 * 1024 * 1024:
                several_mib.set()
            time.sleep(0.004)

    def upload() -> None:
        try:
            with server.client(token) as uploader:
                response = uploader.put(f"{dataset}/files/partial/huge.bin", content=body())
            outcome["status"] = response.status_code
            outcome["text"] = response.text
        except httpx.TransportError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    try:
        assert several_mib.wait(timeout=60), f"upload did not get going: {outcome}"
        server.kill()
        # Left to itself, the upload must fail on the dead connection.
        thread.join(timeout=30)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the upload did not notice the server died"
    assert "status" not in outcome, f"the partial upload was answered: {outcome}"
    assert sent < total

    server.start()
    with server.client(server.login()) as client:
        assert _head(client, dataset) == last_acked
        _history(client, dataset, last_acked)

        for path, data in files.items():
            got = client.get(f"{dataset}/files/{path}")
            assert got.status_code == 200, got.text
            assert got.content == data
            assert got.headers["etag"] == f'"{_sha256(data)}"'
            at = client.get(f"{dataset}/files/{path}", params={"version": file_versions[path]})
            assert at.status_code == 200, at.text
            assert _sha256(at.content) == _sha256(data)
        for record_id, value in records.items():
            got = client.get(f"{dataset}/records/{record_id}")
            assert got.status_code == 200, got.text
            assert got.json() == value
            assert got.headers["x-loft-version"] == str(last_acked)
            at = client.get(
                f"{dataset}/records/{record_id}", params={"version": record_versions[record_id]}
            )
            assert at.status_code == 200, at.text
            assert at.json() == value

        assert client.get(f"{dataset}/files/partial/huge.bin").status_code == 404
        listed = {item["path"] for item in _pages(client, f"{dataset}/files")}
        assert listed == set(files)
        assert client.head(f"/blobs/{partial_digest}").status_code == 404

        # Only the acknowledged files too big to live inline in the database are in the
        # store: nothing of the partial upload is visible there.
        stored = _store_digests(server.blob_dir)
        assert partial_digest not in stored
        expected = {_sha256(d): len(d) for d in files.values() if len(d) > INLINE_LIMIT}
        assert stored == expected

        # The restarted server takes the same upload in full; its leftover staging file
        # does not get in the way.
        again = client.put(f"{dataset}/files/partial/huge.bin", content=partial)
        assert again.status_code == 201, again.text
        assert again.json()["version"] == last_acked + 1
        assert again.json()["entry"]["sha256"] == partial_digest
        stored = _store_digests(server.blob_dir)
        assert stored[partial_digest] == total
    server.kill()


def _commit_body(k: int) -> dict[str, Any]:
    return {
        "message": f"batch {k}",
        "changes": [
            {"op": "put_record", "id": f"c{k:05d}-{j:02d}", "value": {"commit": k, "j": j}}
            for j in range(RECORDS_PER_COMMIT)
        ],
    }


def _commit_ids(k: int) -> set[str]:
    return {f"c{k:05d}-{j:02d}" for j in range(RECORDS_PER_COMMIT)}


def test_kill_during_commits_leaves_only_whole_versions(crash_server: ServerProcess) -> None:
    server = crash_server
    server.start()
    with server.client(server.login()) as client:
        dataset = _create_dataset(client)
    acked: dict[int, int] = {}  # acknowledged version -> commit index
    unacked_landed: dict[int, int] = {}  # version made by a commit cut off by the kill
    kill_points: list[int] = []
    k = 0
    rng = random.Random()

    for _round in range(3):
        token = server.login()
        state: dict[str, Any] = {}
        stop = threading.Event()
        first_k = k

        def committer(start: int, token: str, state: dict[str, Any], stop: threading.Event) -> None:
            current = start
            with server.client(token) as writer:
                while not stop.is_set():
                    state["in_flight"] = current
                    try:
                        response = writer.post(f"{dataset}/commits", json=_commit_body(current))
                    except httpx.TransportError as exc:
                        state["error"] = exc
                        return
                    if response.status_code != 201:
                        state["unexpected"] = (response.status_code, response.text)
                        return
                    version = response.json()["version"]
                    if version["added"] != RECORDS_PER_COMMIT:
                        state["unexpected"] = (response.status_code, response.text)
                        return
                    acked[version["number"]] = current
                    current += 1
                state["in_flight"] = None

        thread = threading.Thread(target=committer, args=(first_k, token, state, stop), daemon=True)
        thread.start()
        try:
            time.sleep(rng.uniform(0.7, 1.3))
            server.kill()
            # Not stopped by us: the committer must run into the dead server by itself.
            thread.join(timeout=30)
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not thread.is_alive(), "the committer did not notice the server died"
        assert "unexpected" not in state, state["unexpected"]
        assert "error" in state, "the committer was not cut off by the kill"
        in_flight: int = state["in_flight"]
        assert len(acked) > 0, "no commit was acknowledged before the kill"
        last_acked = max(acked)
        kill_points.append(last_acked)

        server.start()
        with server.client(server.login()) as client:
            head = _head(client, dataset)
        # The commit cut off by the kill either happened entirely or not at all.
        assert head in (last_acked, last_acked + 1), (head, last_acked)
        if head == last_acked + 1:
            unacked_landed[head] = in_flight
        k = in_flight + 1

    with server.client(server.login()) as client:
        head = _head(client, dataset)
        assert head == max([*acked, *unacked_landed])
        commit_of = {**acked, **unacked_landed}
        assert sorted(commit_of) == list(range(1, head + 1)), "a version is missing"
        assert len(set(commit_of.values())) == head, "one commit made two versions"

        history = _history(client, dataset, head)
        for n in range(1, head + 1):
            version = history[n]
            assert version["message"] == f"batch {commit_of[n]}"
            assert (version["added"], version["changed"], version["removed"]) == (
                RECORDS_PER_COMMIT,
                0,
                0,
            ), version
            assert version["record_count"] == RECORDS_PER_COMMIT * n, version

            diff = client.get(f"{dataset}/diff", params={"from": n - 1, "to": n, "limit": 1000})
            assert diff.status_code == 200, diff.text
            items = diff.json()["items"]
            assert diff.json()["next_cursor"] is None
            assert {i["change"] for i in items} == {"added"}
            assert {i["kind"] for i in items} == {"record"}
            assert {i["path"] for i in items} == _commit_ids(commit_of[n])

            at_n = list(
                _pages(client, f"{dataset}/records", version=n, prefix=f"c{commit_of[n]:05d}-")
            )
            assert {i["path"] for i in at_n} == _commit_ids(commit_of[n])
            assert {i["version"] for i in at_n} == {n}

        # The whole content at the versions on either side of each kill: complete batches.
        for n in sorted({v for p in kill_points for v in (p, p + 1) if v <= head} | {head}):
            everything = list(_pages(client, f"{dataset}/records", version=n))
            assert len(everything) == RECORDS_PER_COMMIT * n
            assert {i["path"] for i in everything} == set().union(
                *(_commit_ids(commit_of[m]) for m in range(1, n + 1))
            )

        for n in kill_points:
            for j in (0, RECORDS_PER_COMMIT - 1):
                record_id = f"c{commit_of[n]:05d}-{j:02d}"
                got = client.get(f"{dataset}/records/{record_id}", params={"version": n})
                assert got.status_code == 200, got.text
                assert got.json() == {"commit": commit_of[n], "j": j}

    _store_digests(server.blob_dir)
    server.kill()
