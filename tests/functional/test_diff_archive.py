"""Diffs between versions and whole-version archives (zip, tar, tar.gz)."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import zipfile
from typing import Any, Literal

import httpx

from tests.conftest import User
from tests.support import sha, upload


def commit(client: httpx.Client, dataset: str, changes: list[dict[str, Any]]) -> int:
    response = client.post(f"{dataset}/commits", json={"changes": changes})
    assert response.status_code == 201, response.text
    number: int = response.json()["version"]["number"]
    return number


def put_files(client: httpx.Client, dataset: str, files: dict[str, bytes]) -> int:
    changes = [
        {"op": "put_file", "path": path, "sha256": upload(client, data)}
        for path, data in files.items()
    ]
    return commit(client, dataset, changes)


def diff(client: httpx.Client, dataset: str, **params: Any) -> Any:
    response = client.get(f"{dataset}/diff", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def summary(items: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (
            item["change"],
            item["path"],
            item["old"]["sha256"] if item["old"] else None,
            item["new"]["sha256"] if item["new"] else None,
        )
        for item in items
    ]


# --- diff ------------------------------------------------------------------------------------


def test_diff_lists_changes_in_path_order(alice: User, dataset: str) -> None:
    put_files(alice.client, dataset, {"b.txt": b"b1", "c.txt": b"c1", "d/e.txt": b"e1"})
    commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "a.txt", "sha256": upload(alice.client, b"a2")},
            {"op": "delete_file", "path": "c.txt"},
            {"op": "put_file", "path": "d/e.txt", "sha256": upload(alice.client, b"e2")},
            {"op": "put_file", "path": "b.txt", "sha256": upload(alice.client, b"b1")},
            {"op": "put_record", "id": "rec", "value": {"x": 1}},
        ],
    )
    body = diff(alice.client, dataset, **{"from": 1, "to": 2})
    assert body["from"] == 1
    assert body["to"] == 2
    assert body["next_cursor"] is None
    assert summary(body["items"]) == [
        ("added", "a.txt", None, sha(b"a2")),
        ("removed", "c.txt", sha(b"c1"), None),
        ("changed", "d/e.txt", sha(b"e1"), sha(b"e2")),
        ("added", "rec", None, body["items"][3]["new"]["sha256"]),
    ]
    assert [item["kind"] for item in body["items"]] == ["file", "file", "file", "record"]
    changed = body["items"][2]
    assert changed["old"]["version"] == 1
    assert changed["new"]["version"] == 2
    assert changed["old"]["size"] == 2
    record = alice.client.get(f"{dataset}/records/rec")
    assert record.headers["etag"] == f'"{body["items"][3]["new"]["sha256"]}"'


def test_diff_to_defaults_to_head(alice: User, dataset: str) -> None:
    put_files(alice.client, dataset, {"one": b"1"})
    put_files(alice.client, dataset, {"two": b"2"})
    body = diff(alice.client, dataset, **{"from": 0})
    assert body["to"] == 2
    assert summary(body["items"]) == [
        ("added", "one", None, sha(b"1")),
        ("added", "two", None, sha(b"2")),
    ]


def test_reversed_diff_inverts(alice: User, dataset: str) -> None:
    put_files(alice.client, dataset, {"keep": b"k", "change": b"old", "drop": b"d"})
    commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "change", "sha256": upload(alice.client, b"new")},
            {"op": "delete_file", "path": "drop"},
            {"op": "put_file", "path": "add", "sha256": upload(alice.client, b"a")},
        ],
    )
    forward = diff(alice.client, dataset, **{"from": 1, "to": 2})
    backward = diff(alice.client, dataset, **{"from": 2, "to": 1})
    assert backward["from"] == 2
    assert backward["to"] == 1
    assert summary(forward["items"]) == [
        ("added", "add", None, sha(b"a")),
        ("changed", "change", sha(b"old"), sha(b"new")),
        ("removed", "drop", sha(b"d"), None),
    ]
    assert summary(backward["items"]) == [
        ("removed", "add", sha(b"a"), None),
        ("changed", "change", sha(b"new"), sha(b"old")),
        ("added", "drop", None, sha(b"d")),
    ]


def test_same_version_diff_is_empty(alice: User, dataset: str) -> None:
    put_files(alice.client, dataset, {"x": b"x"})
    assert diff(alice.client, dataset, **{"from": 1, "to": 1})["items"] == []


def test_a_b_a_is_unchanged_between_ends(alice: User, dataset: str) -> None:
    put_files(alice.client, dataset, {"flip": b"A", "steady": b"s"})
    put_files(alice.client, dataset, {"flip": b"B"})
    put_files(alice.client, dataset, {"flip": b"A", "other": b"o"})
    body = diff(alice.client, dataset, **{"from": 1, "to": 3})
    assert summary(body["items"]) == [("added", "other", None, sha(b"o"))]
    middle = diff(alice.client, dataset, **{"from": 2, "to": 3})
    assert summary(middle["items"]) == [
        ("changed", "flip", sha(b"B"), sha(b"A")),
        ("added", "other", None, sha(b"o")),
    ]


def test_diff_paging_yields_each_change_once(alice: User, dataset: str) -> None:
    base = {f"f{i:02d}": f"v1-{i}".encode() for i in range(25)}
    put_files(alice.client, dataset, base)
    changes: list[dict[str, Any]] = []
    expected: dict[str, str] = {}
    for i in range(25):
        path = f"f{i:02d}"
        if i % 3 == 0:
            changes.append({"op": "delete_file", "path": path})
            expected[path] = "removed"
        elif i % 3 == 1:
            digest = upload(alice.client, f"v2-{i}".encode())
            changes.append({"op": "put_file", "path": path, "sha256": digest})
            expected[path] = "changed"
    for i in range(10):
        path = f"f{i:02d}x"
        changes.append({"op": "put_file", "path": path, "sha256": upload(alice.client, b"n")})
        expected[path] = "added"
    commit(alice.client, dataset, changes)
    assert len(expected) == 27

    inverted = {"added": "removed", "removed": "added", "changed": "changed"}
    assert page_diff(alice.client, dataset, 1, 2, 7) == sorted(expected.items())
    assert page_diff(alice.client, dataset, 2, 1, 7) == sorted(
        (path, inverted[change]) for path, change in expected.items()
    )
    for limit in (1, 2, 3, 5):
        assert page_diff(alice.client, dataset, 1, 2, limit) == sorted(expected.items())
    at_head = [path for path in sorted({*base, *expected}) if expected.get(path) != "removed"]
    for limit in (4, 7):
        assert page_diff(alice.client, dataset, 0, 2, limit) == [(p, "added") for p in at_head]


def page_diff(
    client: httpx.Client, dataset: str, start: int, end: int, limit: int
) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"from": start, "to": end, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = diff(client, dataset, **params)
        assert len(body["items"]) <= limit
        seen.extend((item["path"], item["change"]) for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the diff did not end")


def test_diff_paging_over_many_additions(alice: User, dataset: str) -> None:
    put_files(alice.client, dataset, {f"p{i:02d}": bytes([i]) for i in range(25)})
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"from": 0, "limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = diff(alice.client, dataset, **params)
        seen.extend(item["path"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"p{i:02d}" for i in range(25)]


def test_diff_unknown_version_gives_404(alice: User, dataset: str) -> None:
    put_files(alice.client, dataset, {"x": b"x"})
    response = alice.client.get(f"{dataset}/diff", params={"from": 0, "to": 5})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- archives --------------------------------------------------------------------------------


def dataset_name(dataset: str) -> tuple[str, str]:
    _, _, owner, name = dataset.split("/")
    return owner, name


def build_sample(client: httpx.Client, dataset: str) -> dict[str, bytes]:
    """Version 1: two files; version 2: more files, a symlink and records."""
    put_files(client, dataset, {"old.txt": b"only in v1", "top.txt": b"top v1"})
    files = {
        "top.txt": b"top v2",
        "dir/binary.bin": bytes(range(256)) * 40,
        "dir/sub/empty": b"",
        "big.bin": os.urandom(300_000),
    }
    changes: list[dict[str, Any]] = [
        {"op": "put_file", "path": path, "sha256": upload(client, data)}
        for path, data in files.items()
    ]
    changes += [
        {"op": "delete_file", "path": "old.txt"},
        {"op": "put_symlink", "path": "dir/link", "target": "binary.bin"},
        {"op": "put_record", "id": "r1", "value": {"a": 1}},
        {"op": "put_record", "id": "r/2", "value": {"type": "Buffer", "data": [1, 2]}},
    ]
    assert commit(client, dataset, changes) == 2
    return files


def check_records_jsonl(client: httpx.Client, dataset: str, text: bytes) -> None:
    lines = [json.loads(line) for line in text.decode().splitlines()]
    assert [line["id"] for line in lines] == ["r/2", "r1"]
    assert lines[0]["value"] == {"type": "Buffer", "data": [1, 2]}
    assert lines[1]["value"] == {"a": 1}
    for line in lines:
        assert line["version"] == 2
        etag = client.get(f"{dataset}/records/{line['id']}").headers["etag"]
        assert etag == f'"{line["sha256"]}"'


def test_zip_archive(alice: User, dataset: str) -> None:
    files = build_sample(alice.client, dataset)
    owner, name = dataset_name(dataset)
    root = f"{name}-v2"
    response = alice.client.get(f"{dataset}/archive.zip")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["x-loft-version"] == "2"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="{owner}-{name}-v2.zip"' in disposition
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = sorted(archive.namelist())
    expected_names = sorted(
        [f"{root}/{path}" for path in files] + [f"{root}/dir/link", f"{root}.records.jsonl"]
    )
    assert names == expected_names
    for path, data in files.items():
        info = archive.getinfo(f"{root}/{path}")
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.file_size == len(data)
        assert archive.read(info) == data
        assert stat.S_ISREG(info.external_attr >> 16)
    link = archive.getinfo(f"{root}/dir/link")
    assert stat.S_ISLNK(link.external_attr >> 16)
    assert archive.read(link) == b"binary.bin"
    check_records_jsonl(alice.client, dataset, archive.read(f"{root}.records.jsonl"))


def read_tar(
    data: bytes, mode: Literal["r:", "r:gz"]
) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    found: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            found[member.name] = (member, handle.read() if handle else None)
    return found


def check_tar(client: httpx.Client, dataset: str, data: bytes, mode: Literal["r:", "r:gz"]) -> None:
    _, name = dataset_name(dataset)
    root = f"{name}-v2"
    members = read_tar(data, mode)
    files = {
        "top.txt": b"top v2",
        "dir/binary.bin": bytes(range(256)) * 40,
        "dir/sub/empty": b"",
    }
    assert set(members) == {
        f"{root}/top.txt",
        f"{root}/dir/binary.bin",
        f"{root}/dir/sub/empty",
        f"{root}/big.bin",
        f"{root}/dir/link",
        f"{root}.records.jsonl",
    }
    for path, content in files.items():
        member, body = members[f"{root}/{path}"]
        assert member.isfile()
        assert body == content
    big = client.get(f"{dataset}/files/big.bin").content
    assert members[f"{root}/big.bin"][1] == big
    link, _ = members[f"{root}/dir/link"]
    assert link.issym()
    assert link.linkname == "binary.bin"
    records = members[f"{root}.records.jsonl"][1]
    assert records is not None
    check_records_jsonl(client, dataset, records)


def test_tar_archive(alice: User, dataset: str) -> None:
    build_sample(alice.client, dataset)
    owner, name = dataset_name(dataset)
    response = alice.client.get(f"{dataset}/archive.tar")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    assert f'filename="{owner}-{name}-v2.tar"' in response.headers["content-disposition"]
    assert len(response.content) % 10240 == 0
    check_tar(alice.client, dataset, response.content, "r:")


def test_tar_gz_archive(alice: User, dataset: str) -> None:
    build_sample(alice.client, dataset)
    owner, name = dataset_name(dataset)
    response = alice.client.get(f"{dataset}/archive.tar.gz")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    assert f'filename="{owner}-{name}-v2.tar.gz"' in response.headers["content-disposition"]
    assert response.content[:2] == b"\x1f\x8b"
    check_tar(alice.client, dataset, response.content, "r:gz")


def test_archive_of_older_version(alice: User, dataset: str) -> None:
    build_sample(alice.client, dataset)
    owner, name = dataset_name(dataset)
    root = f"{name}-v1"
    response = alice.client.get(f"{dataset}/archive.zip", params={"version": 1})
    assert response.status_code == 200
    assert response.headers["x-loft-version"] == "1"
    assert f'filename="{owner}-{name}-v1.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == [f"{root}/old.txt", f"{root}/top.txt"]
    assert archive.read(f"{root}/old.txt") == b"only in v1"
    assert archive.read(f"{root}/top.txt") == b"top v1"
    tar = read_tar(alice.client.get(f"{dataset}/archive.tar", params={"version": 1}).content, "r:")
    assert {key: body for key, (_, body) in tar.items()} == {
        f"{root}/old.txt": b"only in v1",
        f"{root}/top.txt": b"top v1",
    }


def test_archive_of_empty_version(alice: User, dataset: str) -> None:
    response = alice.client.get(f"{dataset}/archive.zip")
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(response.content)).namelist() == []
    tar = alice.client.get(f"{dataset}/archive.tar.gz")
    assert tar.status_code == 200
    assert read_tar(tar.content, "r:gz") == {}


def test_archive_of_private_dataset_is_hidden(
    anon: httpx.Client, alice: User, dataset: str
) -> None:
    put_files(alice.client, dataset, {"secret": b"s"})
    assert anon.get(f"{dataset}/archive.zip").status_code == 404
    assert alice.client.get(f"{dataset}/archive.zip", params={"version": 9}).status_code == 404
