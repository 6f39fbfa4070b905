"""A full disk is a clear answer in the Algorithmia Data API: a file upload answers 507 with
``{"error": {"message": ...}}`` (and the message in ``X-Error-Message``), keeps nothing,
and succeeds once there is room again; downloads and listings go on meanwhile. The real
``algorithmia`` client shows the message. The server has a small disk of its own
(``tests/full_disk.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import Algorithmia
import httpx
import pytest

from tests.full_disk import (
    STORED,
    FullDiskServer,
    algorithmia_message,
    needs_room_only_for_rows,
    refused_for_want_of_space,
)
from tests.support import unique


@dataclass(frozen=True)
class Collection:
    """A collection holding a file in a folder, written while the disk had room."""

    client: httpx.Client
    uri: str  # /v1/data/<owner>/<collection>
    data: bytes

    def reads(self) -> None:
        client, uri = self.client, self.uri
        file = client.get(f"{uri}/docs/kept.bin")
        assert file.status_code == 200 and file.content == self.data
        assert file.headers["X-Data-Type"] == "file"
        assert client.head(f"{uri}/docs/kept.bin").status_code == 200
        folder = client.get(f"{uri}/docs").json()
        assert [entry["filename"] for entry in folder["files"]] == ["kept.bin"]
        top = client.get(uri).json()
        assert [entry["name"] for entry in top["folders"]] == ["docs"]
        owner = client.get(uri.rpartition("/")[0]).json()
        assert uri.rpartition("/")[2] in [entry["name"] for entry in owner["folders"]]


@pytest.fixture
def collection(full_disk: FullDiskServer) -> Iterator[Collection]:
    headers = {"Authorization": f"Simple {full_disk.writer.token}"}
    with httpx.Client(base_url=full_disk.url, headers=headers, timeout=30) as client:
        name = unique("coll")
        assert client.post("/v1/data/.my", json={"name": name}).status_code == 200
        uri = f"/v1/data/{full_disk.writer.username}/{name}"
        assert client.post(uri, json={"name": "docs"}).status_code == 200
        data = os.urandom(STORED)
        assert client.put(f"{uri}/docs/kept.bin", content=data).status_code == 200
        yield Collection(client, uri, data)


def test_a_file_upload_on_a_full_disk_is_507_and_keeps_nothing(
    full_disk: FullDiskServer, collection: Collection
) -> None:
    data = os.urandom(STORED)
    uri = f"{collection.uri}/docs/new.bin"
    again = refused_for_want_of_space(
        full_disk,
        lambda: collection.client.put(uri, content=data),
        algorithmia_message,
        collection.reads,
    )
    assert again.json() == {"result": "data://" + uri.removeprefix("/v1/data/")}
    assert collection.client.get(uri).content == data


@pytest.mark.parametrize("what", ["collection", "folder"])
def test_creating_a_directory_needs_room_only_where_the_database_is(
    full_disk: FullDiskServer, collection: Collection, what: str
) -> None:
    where = "/v1/data/.my" if what == "collection" else collection.uri
    create = {"name": unique("dir")}
    needs_room_only_for_rows(
        full_disk, lambda: collection.client.post(where, json=create), algorithmia_message, 200
    )


def test_the_real_client_is_refused_while_full_and_reads_on(
    full_disk: FullDiskServer, collection: Collection
) -> None:
    client = Algorithmia.client(full_disk.writer.token, full_disk.url)
    name = collection.uri.removeprefix("/v1/data/")
    kept = client.file(f"data://{name}/docs/kept.bin")
    new = client.file(f"data://{name}/docs/from-the-client.bin")
    with full_disk.disk.full():
        # The Python client reads no error body from a failed upload: it raises a bare
        # Exception naming the response ("a generic exception on non-2xx", says the
        # reference on PUT), here the 507.
        with pytest.raises(Exception, match=r"\[507\]"):
            new.put(os.urandom(STORED))
        assert kept.getBytes() == collection.data
        assert not new.exists()
        assert [f.getName() for f in client.dir(f"data://{name}/docs").files()] == ["kept.bin"]
    new.put(b"room again")
    assert new.getBytes() == b"room again"
