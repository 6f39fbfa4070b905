"""Files over the native API: upload, download (conditional and ranged), listing, versions,
guards, tree rules and deduplication."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import unique

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(client: httpx.Client, dataset: str, path: str, data: bytes, **kwargs: Any) -> Any:
    response = client.put(f"{dataset}/files/{path}", content=data, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


def head_version(client: httpx.Client, dataset: str) -> int:
    response = client.get(dataset)
    assert response.status_code == 200, response.text
    version: int = response.json()["version"]
    return version


def list_all(client: httpx.Client, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow next_cursor to the end; returns the items and the number of pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 100


# --- upload and download ---------------------------------------------------------------------


def test_put_new_file_returns_201_with_entry(alice: User, dataset: str) -> None:
    data = b"hello, dataloft\n"
    response = alice.client.put(
        f"{dataset}/files/docs/readme.txt", content=data, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1
    assert body["outcome"] == "added"
    entry = body["entry"]
    assert entry["path"] == "docs/readme.txt"
    assert entry["size"] == len(data)
    assert entry["sha256"] == sha(data)
    assert entry["media_type"] == "text/plain"
    assert entry["version"] == 1
    assert entry["kind"] == "file"
    assert response.headers["etag"] == f'"{sha(data)}"'
    assert response.headers["x-loft-version"] == "1"


def test_put_existing_file_returns_200_changed(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "f.bin", b"first")
    response = alice.client.put(f"{dataset}/files/f.bin", content=b"second!")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2
    assert body["outcome"] == "changed"
    assert body["entry"]["sha256"] == sha(b"second!")
    assert body["entry"]["size"] == 7
    assert body["entry"]["version"] == 2
    assert alice.client.get(f"{dataset}/files/f.bin").content == b"second!"


def test_media_type_is_guessed_from_extension_when_absent(alice: User, dataset: str) -> None:
    csv = put(alice.client, dataset, "table.csv", b"a,b\n1,2\n")
    assert csv["entry"]["media_type"] == "text/csv"
    unknown = put(alice.client, dataset, "blob.qqzz", b"\x00\x01")
    assert unknown["entry"]["media_type"] == "application/octet-stream"
    got = alice.client.get(f"{dataset}/files/table.csv")
    assert got.headers["content-type"] == "text/csv"


def test_content_type_header_wins_over_extension(alice: User, dataset: str) -> None:
    body = put(
        alice.client,
        dataset,
        "data.csv",
        b"{}",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert body["entry"]["media_type"] == "application/json"
    got = alice.client.get(f"{dataset}/files/data.csv")
    assert got.headers["content-type"] == "application/json"


def test_get_returns_exact_bytes_and_headers(alice: User, dataset: str) -> None:
    data = os.urandom(1000)
    before = datetime.now(UTC) - timedelta(seconds=5)
    put(alice.client, dataset, "dir/random.bin", data)
    response = alice.client.get(f"{dataset}/files/dir/random.bin")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["etag"] == f'"{sha(data)}"'
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "application/octet-stream"
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert before <= modified <= datetime.now(UTC) + timedelta(seconds=5)


def test_binary_content_with_every_byte_value_round_trips(alice: User, dataset: str) -> None:
    data = bytes(range(256)) * 3
    body = put(alice.client, dataset, "bytes.bin", data)
    assert body["entry"]["sha256"] == sha(data)
    got = alice.client.get(f"{dataset}/files/bytes.bin")
    assert got.content == data


def test_large_file_lives_in_blob_store(alice: User, dataset: str, loft: Loft) -> None:
    data = os.urandom(3 * MiB)
    digest = sha(data)
    body = put(alice.client, dataset, "big.bin", data)
    assert body["entry"]["sha256"] == digest
    assert body["entry"]["size"] == 3 * MiB
    assert loft.store.size(digest) == 3 * MiB
    assert b"".join(loft.store.read(digest)) == data
    got = alice.client.get(f"{dataset}/files/big.bin")
    assert got.status_code == 200
    assert got.headers["content-length"] == str(3 * MiB)
    assert got.content == data


def test_small_file_is_inline_not_in_blob_store(alice: User, dataset: str, loft: Loft) -> None:
    data = os.urandom(100)
    digest = sha(data)
    put(alice.client, dataset, "small.bin", data)
    assert not loft.store.exists(digest)
    assert alice.client.get(f"{dataset}/files/small.bin").content == data


def test_empty_file(alice: User, dataset: str) -> None:
    body = put(alice.client, dataset, "empty.txt", b"")
    assert body["entry"]["size"] == 0
    assert body["entry"]["sha256"] == sha(b"")
    got = alice.client.get(f"{dataset}/files/empty.txt")
    assert got.status_code == 200
    assert got.content == b""
    assert got.headers["content-length"] == "0"
    assert got.headers["etag"] == f'"{sha(b"")}"'


def test_chunked_upload(alice: User, dataset: str) -> None:
    parts = [os.urandom(700_000) for _ in range(4)]

    def body() -> Iterator[bytes]:
        yield from parts

    response = alice.client.put(f"{dataset}/files/chunked.bin", content=body())
    assert response.status_code == 201, response.text
    data = b"".join(parts)
    assert response.json()["entry"]["size"] == len(data)
    assert response.json()["entry"]["sha256"] == sha(data)
    assert alice.client.get(f"{dataset}/files/chunked.bin").content == data


def test_head_gives_headers_without_body(alice: User, dataset: str) -> None:
    data = b"0123456789"
    put(alice.client, dataset, "h.txt", data)
    response = alice.client.head(f"{dataset}/files/h.txt")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "10"
    assert response.headers["etag"] == f'"{sha(data)}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert "last-modified" in response.headers


def test_if_none_match_with_etag_gives_304(alice: User, dataset: str) -> None:
    data = b"cache me"
    put(alice.client, dataset, "c.txt", data)
    etag = f'"{sha(data)}"'
    response = alice.client.get(f"{dataset}/files/c.txt", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    other = alice.client.get(
        f"{dataset}/files/c.txt", headers={"If-None-Match": '"' + "0" * 64 + '"'}
    )
    assert other.status_code == 200
    assert other.content == data


# --- ranges ----------------------------------------------------------------------------------


def test_single_range(alice: User, dataset: str) -> None:
    data = b"0123456789"
    put(alice.client, dataset, "r.txt", data)
    response = alice.client.get(f"{dataset}/files/r.txt", headers={"Range": "bytes=2-5"})
    assert response.status_code == 206
    assert response.content == data[2:6]
    assert response.headers["content-range"] == "bytes 2-5/10"
    assert response.headers["content-length"] == "4"


def test_suffix_and_open_ranges(alice: User, dataset: str) -> None:
    data = b"abcdefghij"
    put(alice.client, dataset, "r.txt", data)
    suffix = alice.client.get(f"{dataset}/files/r.txt", headers={"Range": "bytes=-3"})
    assert suffix.status_code == 206
    assert suffix.content == b"hij"
    assert suffix.headers["content-range"] == "bytes 7-9/10"
    tail = alice.client.get(f"{dataset}/files/r.txt", headers={"Range": "bytes=4-"})
    assert tail.status_code == 206
    assert tail.content == b"efghij"
    assert tail.headers["content-range"] == "bytes 4-9/10"


def test_range_on_large_stored_file(alice: User, dataset: str) -> None:
    data = os.urandom(2 * MiB)
    put(alice.client, dataset, "big.bin", data)
    start, end = 1_000_000, 1_500_123
    response = alice.client.get(
        f"{dataset}/files/big.bin", headers={"Range": f"bytes={start}-{end}"}
    )
    assert response.status_code == 206
    assert response.content == data[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"


def test_unsatisfiable_range_gives_416(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "r.txt", b"0123456789")
    response = alice.client.get(f"{dataset}/files/r.txt", headers={"Range": "bytes=10-20"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */10"


def test_multi_range_answered_with_whole_file(alice: User, dataset: str) -> None:
    data = b"0123456789"
    put(alice.client, dataset, "r.txt", data)
    response = alice.client.get(f"{dataset}/files/r.txt", headers={"Range": "bytes=0-1,4-5"})
    assert response.status_code == 200
    assert response.content == data
    assert "content-range" not in response.headers


def test_if_range(alice: User, dataset: str) -> None:
    data = b"0123456789"
    put(alice.client, dataset, "r.txt", data)
    stale = alice.client.get(
        f"{dataset}/files/r.txt",
        headers={"Range": "bytes=2-5", "If-Range": '"' + sha(b"older") + '"'},
    )
    assert stale.status_code == 200
    assert stale.content == data
    fresh = alice.client.get(
        f"{dataset}/files/r.txt", headers={"Range": "bytes=2-5", "If-Range": f'"{sha(data)}"'}
    )
    assert fresh.status_code == 206
    assert fresh.content == b"2345"


# --- versions and listings -------------------------------------------------------------------


def test_older_version_is_readable_after_overwrite(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "v.txt", b"one")
    put(alice.client, dataset, "v.txt", b"two")
    put(alice.client, dataset, "v.txt", b"three")
    for version, expected in ((1, b"one"), (2, b"two"), (3, b"three")):
        got = alice.client.get(f"{dataset}/files/v.txt", params={"version": version})
        assert got.status_code == 200
        assert got.content == expected
        assert got.headers["etag"] == f'"{sha(expected)}"'
    assert alice.client.get(f"{dataset}/files/v.txt").content == b"three"
    missing = alice.client.get(f"{dataset}/files/v.txt", params={"version": 0})
    assert missing.status_code == 404


def test_listing_in_path_order_with_prefix_and_paging(alice: User, dataset: str) -> None:
    paths = ["a/b/x.txt", "a/b/y/z.txt", "a/bc", "a/b-c", "b.txt", "0.txt", "a/b/w.txt"]
    for path in paths:
        put(alice.client, dataset, path, path.encode())
    url = f"{dataset}/files"
    everything = alice.client.get(url).json()
    assert everything["version"] == len(paths)
    assert [e["path"] for e in everything["items"]] == sorted(paths)
    assert everything["next_cursor"] is None
    for item in everything["items"]:
        assert item["sha256"] == sha(item["path"].encode())
        assert item["size"] == len(item["path"])

    paged, pages = list_all(alice.client, url, limit=2)
    assert [e["path"] for e in paged] == sorted(paths)
    assert pages == 4

    under, _ = list_all(alice.client, url, prefix="a/b/", limit=1)
    assert [e["path"] for e in under] == ["a/b/w.txt", "a/b/x.txt", "a/b/y/z.txt"]

    old = alice.client.get(url, params={"version": 2}).json()
    assert old["version"] == 2
    assert [e["path"] for e in old["items"]] == ["a/b/x.txt", "a/b/y/z.txt"]


def test_entry_version_is_where_content_appeared(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "keep.txt", b"stable")
    put(alice.client, dataset, "move.txt", b"1")
    put(alice.client, dataset, "move.txt", b"2")
    items = {e["path"]: e for e in alice.client.get(f"{dataset}/files").json()["items"]}
    assert items["keep.txt"]["version"] == 1
    assert items["move.txt"]["version"] == 3


def test_identical_bytes_make_unchanged_version(alice: User, dataset: str) -> None:
    first = put(alice.client, dataset, "same.txt", b"same bytes")
    put(alice.client, dataset, "other.txt", b"x")
    response = alice.client.put(f"{dataset}/files/same.txt", content=b"same bytes")
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "unchanged"
    assert body["version"] == 3
    assert body["entry"]["version"] == first["entry"]["version"] == 1
    assert head_version(alice.client, dataset) == 3
    listed = alice.client.get(f"{dataset}/files", params={"prefix": "same"}).json()["items"]
    assert listed[0]["version"] == 1


def test_delete_file(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "gone.txt", b"bye")
    response = alice.client.delete(f"{dataset}/files/gone.txt")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "removed"
    assert response.json()["version"] == 2
    assert response.json()["entry"] is None
    assert alice.client.get(f"{dataset}/files/gone.txt").status_code == 404
    old = alice.client.get(f"{dataset}/files/gone.txt", params={"version": 1})
    assert old.status_code == 200
    assert old.content == b"bye"
    assert alice.client.get(f"{dataset}/files").json()["items"] == []


def test_delete_missing_file_gives_404(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "present.txt", b"x")
    response = alice.client.delete(f"{dataset}/files/absent.txt")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert head_version(alice.client, dataset) == 1


# --- guards ----------------------------------------------------------------------------------


def test_if_none_match_star_refuses_existing(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "once.txt", b"original")
    response = alice.client.put(
        f"{dataset}/files/once.txt", content=b"replacement", headers={"If-None-Match": "*"}
    )
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    assert head_version(alice.client, dataset) == 1
    assert alice.client.get(f"{dataset}/files/once.txt").content == b"original"
    created = alice.client.put(
        f"{dataset}/files/new.txt", content=b"fresh", headers={"If-None-Match": "*"}
    )
    assert created.status_code == 201


def test_if_match(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "m.txt", b"v1")
    right = alice.client.put(
        f"{dataset}/files/m.txt", content=b"v2", headers={"If-Match": f'"{sha(b"v1")}"'}
    )
    assert right.status_code == 200, right.text
    assert right.json()["outcome"] == "changed"
    wrong = alice.client.put(
        f"{dataset}/files/m.txt", content=b"v3", headers={"If-Match": f'"{sha(b"v1")}"'}
    )
    assert wrong.status_code == 412
    assert head_version(alice.client, dataset) == 2
    assert alice.client.get(f"{dataset}/files/m.txt").content == b"v2"


def test_if_match_star_on_missing_file(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "exists.txt", b"x")
    response = alice.client.put(
        f"{dataset}/files/missing.txt", content=b"y", headers={"If-Match": "*"}
    )
    assert response.status_code == 412
    assert head_version(alice.client, dataset) == 1
    assert alice.client.get(f"{dataset}/files/missing.txt").status_code == 404
    existing = alice.client.put(
        f"{dataset}/files/exists.txt", content=b"z", headers={"If-Match": "*"}
    )
    assert existing.status_code == 200


def test_parent_must_be_head(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "p.txt", b"1")
    put(alice.client, dataset, "p.txt", b"2")
    stale = alice.client.put(f"{dataset}/files/p.txt", content=b"3", params={"parent": 1})
    assert stale.status_code == 412
    assert head_version(alice.client, dataset) == 2
    assert alice.client.get(f"{dataset}/files/p.txt").content == b"2"
    current = alice.client.put(f"{dataset}/files/p.txt", content=b"3", params={"parent": 2})
    assert current.status_code == 200
    assert current.json()["version"] == 3


def test_file_cannot_also_be_folder(alice: User, dataset: str) -> None:
    put(alice.client, dataset, "a", b"file a")
    under_file = alice.client.put(f"{dataset}/files/a/b", content=b"x")
    assert under_file.status_code == 409
    assert under_file.json()["error"]["code"] == "conflict"
    put(alice.client, dataset, "x/y", b"file in folder x")
    over_folder = alice.client.put(f"{dataset}/files/x", content=b"x")
    assert over_folder.status_code == 409
    assert head_version(alice.client, dataset) == 2
    paths = [e["path"] for e in alice.client.get(f"{dataset}/files").json()["items"]]
    assert paths == ["a", "x/y"]


# --- deduplication and metadata --------------------------------------------------------------


def test_same_bytes_in_two_datasets_store_one_blob(alice: User, dataset: str, loft: Loft) -> None:
    other_name = unique("ds")
    created = alice.client.post("/datasets", json={"name": other_name})
    assert created.status_code == 201
    other = f"/datasets/{alice.username}/{other_name}"
    data = os.urandom(64 * 1024)
    before = list(loft.store.digests())
    put(alice.client, dataset, "dup.bin", data)
    put(alice.client, other, "elsewhere/dup.bin", data)
    put(alice.client, dataset, "dup-again.bin", data)
    after = list(loft.store.digests())
    assert len(after) == len(before) + 1
    assert set(after) - set(before) == {sha(data)}
    assert alice.client.get(f"{other}/files/elsewhere/dup.bin").content == data


def test_metadata_header_is_stored(alice: User, dataset: str) -> None:
    metadata = {"source": "sensor-7", "tags": ["a", "b"], "n": 3}
    response = alice.client.put(
        f"{dataset}/files/meta.bin",
        content=b"m",
        headers={"X-Loft-Metadata": '{"source": "sensor-7", "tags": ["a", "b"], "n": 3}'},
    )
    assert response.status_code == 201, response.text
    assert response.json()["entry"]["metadata"] == metadata
    listed = alice.client.get(f"{dataset}/files").json()["items"]
    assert listed[0]["metadata"] == metadata
    bad = alice.client.put(
        f"{dataset}/files/meta2.bin", content=b"m", headers={"X-Loft-Metadata": "[1, 2]"}
    )
    assert bad.status_code == 400


def test_unicode_and_space_paths(alice: User, dataset: str) -> None:
    paths = ["日本/データ.csv", "space in name.txt", "café/ünï ✓.bin", "emoji 🦆"]
    for path in paths:
        response = alice.client.put(f"{dataset}/files/{quote(path)}", content=path.encode())
        assert response.status_code == 201, (path, response.text)
        assert response.json()["entry"]["path"] == path
    for path in paths:
        got = alice.client.get(f"{dataset}/files/{quote(path)}")
        assert got.status_code == 200
        assert got.content == path.encode()
    listed = [e["path"] for e in alice.client.get(f"{dataset}/files").json()["items"]]
    assert listed == sorted(paths)
