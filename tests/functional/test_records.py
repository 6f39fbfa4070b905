"""Records over the native API: JSON and CBOR values, tags, ETags and guards, odd ids,
listings, separation from files, size limits."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

import cbor2
import httpx
import pytest

from tests.conftest import User

MiB = 1024 * 1024


def rec(dataset: str, record_id: str) -> str:
    # Dots too: httpx would otherwise resolve an id such as ".." as a dot segment.
    return f"{dataset}/records/{quote(record_id, safe='').replace('.', '%2E')}"


def put_json(client: httpx.Client, dataset: str, record_id: str, value: Any) -> Any:
    # Not json=: httpx sends no body at all for json=None.
    response = client.put(
        rec(dataset, record_id),
        content=json.dumps(value).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def head_version(client: httpx.Client, dataset: str) -> int:
    version: int = client.get(dataset).json()["version"]
    return version


JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -17,
    2**53 + 1,
    3.25,
    -0.5,
    "",
    "plain",
    "ünïcödé ✓ 日本語 🦆",
    [],
    [1, "two", None, [3.5, {"x": []}]],
    {},
    {"nested": {"deeper": {"list": [1, 2, {"k": None}]}}, "b": False, "ü": "ß"},
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=[repr(v)[:30] for v in JSON_VALUES])
def test_json_values_round_trip(alice: User, dataset: str, value: Any) -> None:
    body = put_json(alice.client, dataset, "r1", value)
    assert body["outcome"] == "added"
    assert body["version"] == 1
    entry = body["entry"]
    canonical = cbor2.dumps(value, canonical=True)
    assert entry["kind"] == "record"
    assert entry["path"] == "r1"
    assert entry["sha256"] == hashlib.sha256(canonical).hexdigest()
    assert entry["size"] == len(canonical)
    got = alice.client.get(rec(dataset, "r1"))
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert got.json() == value
    assert got.headers["etag"] == f'"{entry["sha256"]}"'


def test_tagged_values_round_trip(alice: User, dataset: str) -> None:
    value = {
        "buffer": {"type": "Buffer", "data": [0, 1, 127, 128, 255]},
        "set": {"type": "Set", "data": [1, "a", [2, 3]]},
        "map": {"type": "Map", "data": [[1, "one"], ["k", {"x": 1}], [[1, 2], None]]},
        "date": {"type": "Date", "data": 1700000000123},
        "list": [{"type": "Buffer", "data": []}, {"type": "Date", "data": 0}],
    }
    put_json(alice.client, dataset, "tags", value)
    got = alice.client.get(rec(dataset, "tags"))
    assert got.status_code == 200
    assert got.json() == value
    raw = alice.client.get(rec(dataset, "tags"), headers={"Accept": "application/cbor"}).content
    decoded = cbor2.loads(raw)
    assert decoded["buffer"] == bytes([0, 1, 127, 128, 255])
    assert decoded["list"][0] == b""


def test_cbor_download_matches_etag(alice: User, dataset: str) -> None:
    value = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    put_json(alice.client, dataset, "c", value)
    response = alice.client.get(rec(dataset, "c"), headers={"Accept": "application/cbor"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/cbor"
    assert cbor2.loads(response.content) == value
    assert response.headers["etag"] == f'"{hashlib.sha256(response.content).hexdigest()}"'
    assert response.content == cbor2.dumps(value, canonical=True)
    json_etag = alice.client.get(rec(dataset, "c")).headers["etag"]
    assert json_etag == response.headers["etag"]


def test_put_cbor_body(alice: User, dataset: str) -> None:
    value = {"bytes": b"\x00\xff", "n": 5, "s": "text"}
    response = alice.client.put(
        rec(dataset, "cb"),
        content=cbor2.dumps(value),
        headers={"Content-Type": "application/cbor"},
    )
    assert response.status_code == 201, response.text
    got = alice.client.get(rec(dataset, "cb"))
    assert got.json() == {"bytes": {"type": "Buffer", "data": [0, 255]}, "n": 5, "s": "text"}
    raw = alice.client.get(rec(dataset, "cb"), headers={"Accept": "application/cbor"}).content
    assert cbor2.loads(raw) == value


def test_malformed_cbor_gives_400(alice: User, dataset: str) -> None:
    response = alice.client.put(
        rec(dataset, "bad"), content=b"\xff\xff\x00", headers={"Content-Type": "application/cbor"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert head_version(alice.client, dataset) == 0


def test_etag_and_if_none_match_304(alice: User, dataset: str) -> None:
    body = put_json(alice.client, dataset, "e", {"v": 1})
    etag = f'"{body["entry"]["sha256"]}"'
    as_json = alice.client.get(rec(dataset, "e"), headers={"If-None-Match": etag})
    assert as_json.status_code == 304
    assert as_json.content == b""
    as_cbor = alice.client.get(
        rec(dataset, "e"), headers={"If-None-Match": etag, "Accept": "application/cbor"}
    )
    assert as_cbor.status_code == 304
    stale = alice.client.get(rec(dataset, "e"), headers={"If-None-Match": '"' + "1" * 64 + '"'})
    assert stale.status_code == 200
    assert stale.json() == {"v": 1}


def test_head_record(alice: User, dataset: str) -> None:
    put_json(alice.client, dataset, "h", {"hello": "world"})
    response = alice.client.head(rec(dataset, "h"))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(b'{"hello":"world"}'))


def test_if_none_match_star_and_if_match(alice: User, dataset: str) -> None:
    first = put_json(alice.client, dataset, "g", [1])
    exists = alice.client.put(rec(dataset, "g"), json=[2], headers={"If-None-Match": "*"})
    assert exists.status_code == 412
    assert exists.json()["error"]["code"] == "precondition_failed"
    assert alice.client.get(rec(dataset, "g")).json() == [1]

    wrong = alice.client.put(
        rec(dataset, "g"), json=[3], headers={"If-Match": '"' + "a" * 64 + '"'}
    )
    assert wrong.status_code == 412
    right = alice.client.put(
        rec(dataset, "g"), json=[4], headers={"If-Match": f'"{first["entry"]["sha256"]}"'}
    )
    assert right.status_code == 200, right.text
    assert right.json()["outcome"] == "changed"
    assert alice.client.get(rec(dataset, "g")).json() == [4]

    missing = alice.client.put(rec(dataset, "nope"), json=1, headers={"If-Match": "*"})
    assert missing.status_code == 412
    assert alice.client.get(rec(dataset, "nope")).status_code == 404
    created = alice.client.put(rec(dataset, "new"), json=1, headers={"If-None-Match": "*"})
    assert created.status_code == 201
    assert head_version(alice.client, dataset) == 3


def test_same_value_again_is_unchanged(alice: User, dataset: str) -> None:
    put_json(alice.client, dataset, "u", {"b": 1, "a": 2})
    response = alice.client.put(rec(dataset, "u"), json={"a": 2, "b": 1})
    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"
    assert response.json()["entry"]["version"] == 1
    assert response.json()["version"] == 2


def test_delete_record(alice: User, dataset: str) -> None:
    put_json(alice.client, dataset, "d", "value")
    response = alice.client.delete(rec(dataset, "d"))
    assert response.status_code == 200
    assert response.json()["outcome"] == "removed"
    assert alice.client.get(rec(dataset, "d")).status_code == 404
    old = alice.client.get(rec(dataset, "d"), params={"version": 1})
    assert old.status_code == 200
    assert old.json() == "value"
    again = alice.client.delete(rec(dataset, "d"))
    assert again.status_code == 404
    assert head_version(alice.client, dataset) == 2


def check_ids_round_trip(client: httpx.Client, dataset: str, ids: list[str]) -> None:
    for number, record_id in enumerate(ids):
        body = put_json(client, dataset, record_id, {"n": number})
        assert body["entry"]["path"] == record_id
    for number, record_id in enumerate(ids):
        got = client.get(rec(dataset, record_id))
        assert got.status_code == 200, record_id
        assert got.json() == {"n": number}
    listed = client.get(f"{dataset}/records").json()["items"]
    assert [item["path"] for item in listed] == sorted(ids)


def test_record_ids_with_slashes_spaces_and_punctuation(alice: User, dataset: str) -> None:
    ids = [
        "dir/sub/leaf",
        "with space",
        "percent %20 and ?query#frag",
        "..",
        "a//b",
        "café",
        "/lead",
        "trail/",
    ]
    check_ids_round_trip(alice.client, dataset, ids)


def test_record_ids_with_unicode(alice: User, dataset: str) -> None:
    ids = ["ünï/cødé ✓", "日本語", "duck 🦆"]
    check_ids_round_trip(alice.client, dataset, ids)


def test_listing_records_with_paging(alice: User, dataset: str) -> None:
    ids = [f"rec-{i:02d}" for i in range(11)]
    response = alice.client.post(
        f"{dataset}/commits",
        json={"changes": [{"op": "put_record", "id": i, "value": {"id": i}} for i in ids]},
    )
    assert response.status_code == 201, response.text
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = alice.client.get(f"{dataset}/records", params=params).json()
        pages += 1
        assert page["version"] == 1
        assert len(page["items"]) <= 4
        seen.extend(item["path"] for item in page["items"])
        for item in page["items"]:
            assert item["kind"] == "record"
            expected = cbor2.dumps({"id": item["path"]}, canonical=True)
            assert item["sha256"] == hashlib.sha256(expected).hexdigest()
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3
    assert alice.client.get(f"{dataset}/files").json()["items"] == []


def test_records_and_files_are_separate(alice: User, dataset: str) -> None:
    put_json(alice.client, dataset, "a", {"record": True})
    file_put = alice.client.put(f"{dataset}/files/a", content=b"file bytes")
    assert file_put.status_code == 201, file_put.text
    assert alice.client.get(rec(dataset, "a")).json() == {"record": True}
    assert alice.client.get(f"{dataset}/files/a").content == b"file bytes"
    assert [e["path"] for e in alice.client.get(f"{dataset}/records").json()["items"]] == ["a"]
    assert [e["path"] for e in alice.client.get(f"{dataset}/files").json()["items"]] == ["a"]
    assert alice.client.delete(f"{dataset}/files/a").status_code == 200
    assert alice.client.get(rec(dataset, "a")).json() == {"record": True}


def test_record_over_limit_gives_413(alice: User, dataset: str) -> None:
    put_json(alice.client, dataset, "small", 1)
    value = "x" * (20 * MiB + 16)
    response = alice.client.put(
        rec(dataset, "huge"),
        content=json.dumps(value).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert str(20 * MiB) in response.json()["error"]["message"]
    assert head_version(alice.client, dataset) == 1
    assert alice.client.get(rec(dataset, "huge")).status_code == 404


@pytest.mark.parametrize(
    "content_type",
    ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "Text/Json", "application/LD+JSON"],
)
def test_json_content_type_is_case_insensitive(
    alice: User, dataset: str, content_type: str
) -> None:
    response = alice.client.put(
        rec(dataset, "ci"), content=b'{"a": 1}', headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    assert alice.client.get(rec(dataset, "ci")).json() == {"a": 1}


def test_cbor_content_type_is_case_insensitive(alice: User, dataset: str) -> None:
    value = {"bytes": b"\x01", "n": 7}
    response = alice.client.put(
        rec(dataset, "cbi"),
        content=cbor2.dumps(value),
        headers={"Content-Type": "Application/CBOR"},
    )
    assert response.status_code == 201, response.text
    raw = alice.client.get(rec(dataset, "cbi"), headers={"Accept": "Application/CBOR"})
    assert raw.headers["content-type"] == "application/cbor"
    assert cbor2.loads(raw.content) == value


def test_unsupported_content_type_gives_400(alice: User, dataset: str) -> None:
    response = alice.client.put(
        rec(dataset, "t"), content=b"just text", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert head_version(alice.client, dataset) == 0


def test_malformed_json_gives_400(alice: User, dataset: str) -> None:
    response = alice.client.put(
        rec(dataset, "t"), content=b'{"a": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert head_version(alice.client, dataset) == 0
