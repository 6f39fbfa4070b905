"""A full disk under a SQLite database: a write is whole or absent at every fill level.

The server keeps its SQLite database, its blobs and its temporary files on one small disk
(``tests/full_disk.py``). Each test leaves the disk a little room, one more page at a time,
and tries the same write: while it does not fit, the answer is a 507 in the dialect's
shape, the dataset reads as before and no row was added (nor a half-written file); once it
fits, it succeeds. Along the way the write's bytes fit and its rows do not, so the
database's own "disk is full" is met as well as the blob store's. This needs the database
on the small disk: SQLite, whatever database the rest of the suite runs on.

And a server started on a full disk says in one line why it cannot open its database.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.full_disk import (
    DATABASE_FULL,
    DISK_BYTES,
    PAGE,
    STORED,
    FullDiskServer,
    SmallDisk,
    algorithmia_message,
    full_disk_server,
    native_message,
    pigeon_message,
)
from tests.functional.test_cli import DATALOFT, base_env
from tests.support import free_port, unique

# The write's answer; and what a reader sees of the state it changes, before and after.
Write = Callable[[], httpx.Response]
State = Callable[[], Any]


@pytest.fixture(scope="module")
def full_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullDiskServer]:
    with full_disk_server("sqlite", tmp_path_factory.mktemp("full-sqlite")) as server:
        yield server


@dataclass
class Clients:
    """The writer's clients of the three dialects, and a dataset of theirs."""

    native: httpx.Client
    pigeon: httpx.Client
    algorithmia: httpx.Client
    owner: str
    name: str

    def dataset(self) -> Any:
        """The dataset as the native API shows it: version, description, counts, ..."""
        response = self.native.get(f"/datasets/{self.owner}/{self.name}")
        assert response.status_code == 200, response.text
        return response.json()

    def datasets(self) -> list[str]:
        response = self.native.get("/datasets", params={"limit": 1000})
        assert response.status_code == 200, response.text
        return sorted(item["name"] for item in response.json()["items"])


@pytest.fixture
def clients(full_sqlite: FullDiskServer) -> Iterator[Clients]:
    writer = full_sqlite.writer
    with (
        full_sqlite.native() as native,
        httpx.Client(
            base_url=full_sqlite.url,
            auth=(writer.username, writer.password),
            headers={"Accept": "application/json"},
            timeout=30,
        ) as pigeon,
        httpx.Client(
            base_url=full_sqlite.url + "/v1/data",
            headers={"Authorization": f"Simple {writer.token}"},
            timeout=30,
        ) as algorithmia,
    ):
        name = unique("ds")
        assert pigeon.put("/datasets/create", json={"name": name}).status_code == 303
        yield Clients(native, pigeon, algorithmia, writer.username, name)


@dataclass(frozen=True)
class Case:
    """A write, what it changes, how its dialect words errors, and the room (in pages) it
    is given more at each try."""

    write: Write
    state: State
    message_of: Callable[[httpx.Response], str]
    step: int = 1


def _file(c: Clients) -> Case:
    data = os.urandom(STORED)
    url = f"/datasets/{c.owner}/{c.name}/files/new.bin"
    return Case(lambda: c.native.put(url, content=data), c.dataset, native_message)


def _native_dataset(c: Clients) -> Case:
    name = unique("ds")
    return Case(lambda: c.native.post("/datasets", json={"name": name}), c.datasets, native_message)


def _memo(c: Clients) -> Case:
    url = f"/datasets/{c.owner}:{c.name}/configuration"
    return Case(lambda: c.pigeon.put(url, json={"memo": "new memo"}), c.dataset, pigeon_message)


def _attachment(c: Clients) -> Case:
    files = [
        ("body", ("body", json.dumps({"clip": "cid:clip.mp4"}).encode(), "application/json")),
        ("attachment", ("clip.mp4", os.urandom(STORED), "video/mp4")),
    ]
    url = f"/datasets/{c.owner}:{c.name}/records/new"
    return Case(lambda: c.pigeon.put(url, files=files), c.dataset, pigeon_message)


def _small_records(c: Clients) -> Case:
    """Many small records (kept inline, in their rows): one big transaction, no blob file."""
    body = {f"r{n:04}": {"n": n} for n in range(1000)}
    url = f"/datasets/{c.owner}:{c.name}/records/"
    return Case(lambda: c.pigeon.post(url, json=body), c.dataset, pigeon_message, step=16)


def _folder(c: Clients) -> Case:
    url = f"/{c.owner}/{c.name}"
    return Case(
        lambda: c.algorithmia.post(url, json={"name": "docs"}), c.dataset, algorithmia_message
    )


CASES: dict[str, Callable[[Clients], Case]] = {
    "native-file": _file,
    "native-dataset": _native_dataset,
    "pigeon-memo": _memo,
    "pigeon-attachment": _attachment,
    "pigeon-many-small-records": _small_records,
    "algorithmia-folder": _folder,
}
MOST_PAGES = 1024


@pytest.mark.parametrize("kind", CASES)
def test_a_write_is_whole_or_absent_at_every_fill_level(
    full_sqlite: FullDiskServer, clients: Clients, kind: str
) -> None:
    case = CASES[kind](clients)
    disk = full_sqlite.disk
    logged = full_sqlite.log_size()
    refusals: set[str] = set()
    for pages in range(0, MOST_PAGES, case.step):
        state, rows, blob_files = case.state(), full_sqlite.rows(), disk.blob_files()
        with disk.full(room=pages * PAGE):
            response = case.write()
            if response.is_success:
                break
            assert response.status_code == 507, response.text
            refusals.add(case.message_of(response))
            assert case.state() == state, f"with {pages} pages of room"
            assert clients.dataset()["name"] == clients.name  # reads go on
        assert full_sqlite.rows() == rows, f"with {pages} pages of room"
        assert disk.staging() == []
        for digest in disk.blob_files() - blob_files:  # stored whole, if at all
            assert hashlib.sha256(disk.blob_path(digest).read_bytes()).hexdigest() == digest
    else:
        pytest.fail(f"the write did not fit in {MOST_PAGES} pages: {refusals}")
    assert case.state() != state
    # Its rows found no room even when there was room for its bytes.
    assert DATABASE_FULL in refusals
    assert full_sqlite.errors_logged(since=logged) == []


def test_bytes_whose_rows_found_no_room_are_not_the_uploaders(
    full_sqlite: FullDiskServer, clients: Clients
) -> None:
    """A blob stored whole but never registered gives no right to name it: ``HEAD`` says
    404 until the bytes are sent again, and a commit naming them is refused."""
    data = os.urandom(STORED)
    digest = hashlib.sha256(data).hexdigest()
    with full_sqlite.disk.full(room=len(data)):  # room for the bytes, none for the rows
        response = clients.native.put(f"/blobs/{digest}", content=data)
        assert response.status_code == 507, response.text
        assert native_message(response) == DATABASE_FULL
    assert clients.native.head(f"/blobs/{digest}").status_code == 404
    change = {"op": "put_file", "path": "named.bin", "sha256": digest}
    url = f"/datasets/{clients.owner}/{clients.name}/commits"
    assert clients.native.post(url, json={"changes": [change]}).status_code == 400
    assert clients.native.put(f"/blobs/{digest}", content=data).status_code == 201
    assert clients.native.post(url, json={"changes": [change]}).status_code == 201


def test_a_server_started_on_a_full_disk_says_in_one_line_that_it_cannot_open_the_database(
    tmp_path: Path,
) -> None:
    """The last user of a SQLite database removes its write-ahead log and shared-memory
    files; on a full disk the next cannot make them again, so it cannot even read. The
    server refuses to start with one line saying so (not a traceback of a "disk I/O
    error"), and starts once there is room."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = base_env(DATALOFT_DATA_DIR=str(data_dir))

    def dataloft(disk: SmallDisk, *args: str) -> subprocess.CompletedProcess[str]:
        command = disk.command(str(DATALOFT), *args)
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    with SmallDisk(data_dir, DISK_BYTES, sqlite=True) as disk:
        assert dataloft(disk, "db", "upgrade").returncode == 0
        with disk.full():
            refused = dataloft(disk, "serve", "--port", str(free_port()))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stderr.splitlines() == [
            "error: the server's database is full: make room on its disk to open it"
        ]
        upgraded = dataloft(disk, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
