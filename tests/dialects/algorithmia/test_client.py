"""The real ``algorithmia`` client from PyPI against a live dataloft on 127.0.0.1.

Nothing here is faked: the client speaks HTTP to the session's server exactly as it would
to Algorithmia, with a dataloft API token as its API key.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import Algorithmia
import httpx
import pytest
from Algorithmia.acl import AclType, ReadAcl
from Algorithmia.errors import DataApiError

from tests.conftest import User
from tests.support import LiveServer, unique


@pytest.fixture
def client(server: LiveServer, alice: User) -> Algorithmia.client.Client:
    return Algorithmia.client(alice.token, server.url)


def test_username_is_the_callers(client: Algorithmia.client.Client, alice: User) -> None:
    assert client.username() == alice.username


@pytest.mark.parametrize(
    ("acl", "expected"),
    [
        (ReadAcl.private, AclType.private),
        (ReadAcl.public, AclType.public),
        (None, AclType.my_algos),  # the default
    ],
    ids=["private", "public", "default"],
)
def test_create_directory_with_each_acl(
    client: Algorithmia.client.Client,
    alice: User,
    acl: ReadAcl | None,
    expected: AclType,
) -> None:
    directory = client.dir(f"data://.my/{unique('dir')}")
    assert not directory.exists()
    if acl is None:
        directory.create()
    else:
        directory.create(acl)
    assert directory.exists()
    assert directory.get_permissions().read_acl == expected
    # The same dataset in the native API, private unless the ACL said public.
    dataset = alice.client.get(f"/datasets/{alice.username}/{directory.getName()}").json()
    assert dataset["visibility"] == ("public" if expected == AclType.public else "private")


def test_text_json_and_binary_round_trips(
    client: Algorithmia.client.Client, tmp_path: Path
) -> None:
    directory = client.dir(f"data://.my/{unique('dir')}")
    directory.create(ReadAcl.private)

    text = directory.file("greeting.txt")
    text.put("Grüße, 世界! €")
    assert text.exists()
    assert text.getString() == "Grüße, 世界! €"

    document = client.file(f"{directory.path}/doc.json")
    document.putJson({"a": [1, 2], "ü": None})
    assert document.getJson() == {"a": [1, 2], "ü": None}

    payload = bytes(range(256)) * 64 + b"\x00\xff"
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    binary = directory.file("data.bin")
    binary.putFile(str(source))
    assert binary.getBytes() == payload
    downloaded = binary.getFile(as_path=True)
    assert Path(downloaded).read_bytes() == payload
    assert not directory.file("missing.bin").exists()


def test_missing_file_raises_with_the_server_message(client: Algorithmia.client.Client) -> None:
    directory = client.dir(f"data://.my/{unique('dir')}")
    directory.create()
    with pytest.raises(DataApiError, match="not found"):
        directory.file("nothing-here.txt").getString()


def test_iterating_two_pages_of_files(
    client: Algorithmia.client.Client, server: LiveServer, alice: User
) -> None:
    """1,100 files: more than one page of 1,000. They are committed in one go through the
    native API (uploading them one by one would only test the same PUT 1,100 times)."""
    directory = client.dir(f"data://.my/{unique('many')}")
    directory.create()
    content = b"same bytes in every file"
    digest = hashlib.sha256(content).hexdigest()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {alice.token}"}, timeout=60
    ) as native:
        assert native.put(f"/loft/v1/blobs/{digest}", content=content).status_code in (200, 201)
        changes = [
            {"op": "put_file", "path": f"f{number:04d}.txt", "sha256": digest}
            for number in range(1100)
        ]
        dataset = f"/loft/v1/datasets/{alice.username}/{directory.getName()}"
        committed = native.post(f"{dataset}/commits", json={"changes": changes})
        assert committed.status_code == 201, committed.text
    directory.file("z-nested/inner.txt").put("inside a folder")

    files = list(directory.files())
    assert [f.getName() for f in files] == [f"f{number:04d}.txt" for number in range(1100)]
    assert {f.size for f in files} == {len(content)}
    assert all(isinstance(f.last_modified, datetime) for f in files)
    assert [d.getName() for d in directory.dirs()] == ["z-nested"]
    assert len(list(directory.list())) == 1101


def test_dirs_of_my_root_lists_my_collections(client: Algorithmia.client.Client) -> None:
    names = sorted(unique("coll") for _ in range(3))
    for name in names:
        client.dir(f"data://.my/{name}").create()
    listed = [d.getName() for d in client.dir("data://.my").dirs()]
    assert [name for name in listed if name in names] == names


def test_update_permissions(
    client: Algorithmia.client.Client, bob: User, server: LiveServer
) -> None:
    directory = client.dir(f"data://.my/{unique('dir')}")
    directory.create(ReadAcl.private)
    directory.file("shared.txt").put("for everyone")
    as_bob = Algorithmia.client(bob.token, server.url)
    owner = client.username()
    seen_by_bob = as_bob.file(f"data://{owner}/{directory.getName()}/shared.txt")
    assert not seen_by_bob.exists()

    directory.update_permissions(ReadAcl.public)
    assert directory.get_permissions().read_acl == AclType.public
    assert seen_by_bob.getString() == "for everyone"

    directory.update_permissions(ReadAcl.private)
    assert directory.get_permissions().read_acl == AclType.private
    assert not seen_by_bob.exists()


def test_deletes(client: Algorithmia.client.Client, alice: User) -> None:
    directory = client.dir(f"data://.my/{unique('dir')}")
    directory.create()
    keep, gone = directory.file("keep.txt"), directory.file("gone.txt")
    keep.put("stays until the forced delete")
    gone.put("deleted first")

    assert gone.delete() is True
    assert not gone.exists()
    with pytest.raises(DataApiError, match="not empty"):
        directory.delete()
    assert directory.exists() and keep.exists()

    assert directory.delete(force=True) is True
    assert not directory.exists()
    # A soft delete in the core: the dataset is gone from the native API too.
    response = alice.client.get(f"/datasets/{alice.username}/{directory.getName()}")
    assert response.status_code == 404


def test_empty_directory_deletes_without_force(client: Algorithmia.client.Client) -> None:
    directory = client.dir(f"data://.my/{unique('dir')}")
    directory.create()
    nested = directory.dir("sub")
    nested.create()
    assert nested.exists()
    assert [d.getName() for d in directory.dirs()] == ["sub"]
    assert list(nested.files()) == []
    assert nested.delete() is True
    assert not nested.exists()
    assert directory.delete() is True


def test_writes_are_versions_in_the_native_api(
    client: Algorithmia.client.Client, alice: User
) -> None:
    directory = client.dir(f"data://.my/{unique('dir')}")
    directory.create()
    dataset = f"/datasets/{alice.username}/{directory.getName()}"
    assert alice.client.get(dataset).json()["version"] == 0
    file = directory.file("notes.txt")
    file.put("first")
    file.put("second")
    file.delete()
    versions = alice.client.get(f"{dataset}/versions").json()["items"]
    assert sorted(v["number"] for v in versions) == [0, 1, 2, 3]
    first = alice.client.get(f"{dataset}/files/notes.txt", params={"version": 1})
    assert first.content == b"first"
    assert alice.client.get(f"{dataset}/files/notes.txt").status_code == 404
