"""A full disk is a clear answer in the native API: every write that stores bytes answers
507 with ``{"error": {"code": "insufficient_storage", ...}}`` and keeps nothing, reads go on,
and the same write succeeds once there is room again. The server has a small disk of its own
(``tests/full_disk.py``): its blobs, its temporary files and, on SQLite, its database."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cbor2
import httpx
import pytest

from tests.full_disk import (
    STORED,
    FullDiskServer,
    native_message,
    needs_room_only_for_rows,
    refused_for_want_of_space,
)
from tests.support import unique

ROOM = 1024 * 1024


def _value(size: int = STORED) -> dict[str, str]:
    """A record value whose encoding goes to the blob store (larger than the inline limit)."""
    return {"text": os.urandom(size // 2).hex()}


@dataclass(frozen=True)
class Existing:
    """A dataset holding a file and a record, written while the disk had room."""

    client: httpx.Client
    path: str  # /datasets/<owner>/<name>
    data: bytes
    value: dict[str, str]

    def reads(self) -> None:
        """What a reader does, and what it must see: the dataset as it was (version 2)."""
        client, path = self.client, self.path
        assert client.get(path).json()["version"] == 2
        file = client.get(f"{path}/files/kept.bin")
        assert file.status_code == 200 and file.content == self.data
        ranged = client.get(f"{path}/files/kept.bin", headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206 and ranged.content == self.data[:10]
        record = client.get(f"{path}/records/kept")
        assert record.status_code == 200 and record.json() == self.value
        files = client.get(f"{path}/files").json()["items"]
        assert [entry["path"] for entry in files] == ["kept.bin"]
        records = client.get(f"{path}/records").json()["items"]
        assert [entry["path"] for entry in records] == ["kept"]
        assert len(client.get(f"{path}/versions").json()["items"]) == 3  # 0, 1 and 2
        archive = client.get(f"{path}/archive.zip")
        assert archive.status_code == 200 and archive.content.startswith(b"PK")


@pytest.fixture
def existing(full_disk: FullDiskServer) -> Iterator[Existing]:
    with full_disk.native() as client:
        name = unique("ds")
        assert client.post("/datasets", json={"name": name}).status_code == 201
        path = f"/datasets/{full_disk.writer.username}/{name}"
        data, value = os.urandom(STORED), _value()
        assert client.put(f"{path}/files/kept.bin", content=data).status_code == 201
        assert client.put(f"{path}/records/kept", json=value).status_code == 201
        yield Existing(client, path, data, value)


def _put_file(existing: Existing) -> Callable[[], httpx.Response]:
    data = os.urandom(STORED)
    return lambda: existing.client.put(f"{existing.path}/files/new/file.bin", content=data)


def _put_large_file(existing: Existing) -> Callable[[], httpx.Response]:
    """Larger than the room left (``ROOM``): the upload runs out of it part-way through."""
    data = os.urandom(4 * ROOM)
    return lambda: existing.client.put(f"{existing.path}/files/large.bin", content=data)


def _put_blob(existing: Existing) -> Callable[[], httpx.Response]:
    data = os.urandom(STORED)
    digest = hashlib.sha256(data).hexdigest()
    return lambda: existing.client.put(f"/blobs/{digest}", content=data)


def _put_record(existing: Existing) -> Callable[[], httpx.Response]:
    value = _value()
    return lambda: existing.client.put(f"{existing.path}/records/new", json=value)


def _put_cbor_record(existing: Existing) -> Callable[[], httpx.Response]:
    body = cbor2.dumps(_value())
    headers = {"Content-Type": "application/cbor"}
    return lambda: existing.client.put(
        f"{existing.path}/records/new", content=body, headers=headers
    )


def _commit_records(existing: Existing) -> Callable[[], httpx.Response]:
    changes = [{"op": "put_record", "id": f"r{i}", "value": _value()} for i in range(3)]
    body = {"message": "three records", "changes": changes}
    return lambda: existing.client.post(f"{existing.path}/commits", json=body)


# Each kind of write, and the room left on the disk when it comes: none, or some, so that
# it fails part-way through the body rather than at its first byte.
WRITES: dict[str, tuple[Callable[[Existing], Callable[[], httpx.Response]], int]] = {
    "file": (_put_file, 0),
    "file-larger-than-the-room-left": (_put_large_file, ROOM),
    "blob": (_put_blob, 0),
    "record": (_put_record, 0),
    "cbor-record": (_put_cbor_record, 0),
    "commit-with-records": (_commit_records, 0),
}


@pytest.mark.parametrize("kind", WRITES)
def test_a_write_that_stores_bytes_on_a_full_disk_is_507_and_keeps_nothing(
    full_disk: FullDiskServer, existing: Existing, kind: str
) -> None:
    make, room = WRITES[kind]
    refused_for_want_of_space(full_disk, make(existing), native_message, existing.reads, room=room)


def test_a_blob_refused_for_want_of_space_is_not_the_uploaders(
    full_disk: FullDiskServer, existing: Existing
) -> None:
    """Bytes that were never stored give no right to name them: ``HEAD`` says 404 after
    the 507, and a commit naming them is refused, until they are sent again."""
    data = os.urandom(STORED)
    digest = hashlib.sha256(data).hexdigest()
    client = existing.client
    with full_disk.disk.full():
        assert client.put(f"/blobs/{digest}", content=data).status_code == 507
    assert client.head(f"/blobs/{digest}").status_code == 404
    change = {"op": "put_file", "path": "named.bin", "sha256": digest}
    named = client.post(f"{existing.path}/commits", json={"changes": [change]})
    assert named.status_code == 400, named.text
    assert client.put(f"/blobs/{digest}", content=data).status_code == 201
    assert client.head(f"/blobs/{digest}").status_code == 200


def test_creating_a_dataset_needs_room_only_where_the_database_is(
    full_disk: FullDiskServer,
) -> None:
    with full_disk.native() as client:
        create = {"name": unique("ds")}
        needs_room_only_for_rows(
            full_disk, lambda: client.post("/datasets", json=create), native_message, 201
        )
