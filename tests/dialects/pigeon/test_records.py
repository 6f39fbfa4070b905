"""Pigeon Optics records, pinned with raw HTTP: the version bookkeeping of §2.1 (every
write is one dataset version; a record's version moves only when its value changes; the
index with ``X-Version``/``ETag``), single-record reads and writes in JSON (with the
``{type, data}`` tags) and CBOR, the errors, who may write, odd record ids, and the same
records seen through the native API."""

from __future__ import annotations

import datetime
import math
from typing import Any

import cbor2
import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    CBOR,
    HEX64,
    Dataset,
    basic,
    challenge,
    cors,
    error,
    index,
    native_records,
    native_versions,
    put_record,
    state,
    value,
    versions,
)

TAGGED: dict[str, Any] = {
    "buffer": {"type": "Buffer", "data": [0, 1, 127, 255]},
    "set": {"type": "Set", "data": [1, "two", False]},
    "set-1-and-true": {"type": "Set", "data": [1, True, 1.5]},  # distinct in JavaScript
    "map": {"type": "Map", "data": [[1, "one"], [{"k": [1]}, "object key"], ["s", None]]},
    "date": {"type": "Date", "data": 1625200000123},
    "infinity": {"type": "constant", "data": "infinity"},
    "minus-infinity": {"type": "constant", "data": "-infinity"},
    "nan": {"type": "constant", "data": "NaN"},
    "nested": [{"type": "Set", "data": [{"type": "Buffer", "data": [9]}]}],
    "plain": {"type": "not a tag", "data": 1},
    "three-keys": {"type": "Buffer", "data": [1], "extra": True},
    "text": "ü and 🐦",
    "numbers": [0, -1, 1.5, 2**53],
}


# --- §2.1 version bookkeeping ----------------------------------------------------------------


def test_writing_the_same_value_twice(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "abc", {"tags": ["cat"]})
    version, records = index(po, ds)
    assert version == 1
    assert set(records) == {"abc"}
    first = records["abc"]
    assert first["version"] == 1
    assert first["links"] == []
    assert HEX64.fullmatch(first["hash"])

    put_record(po, alice, ds, "abc", {"tags": ["cat"]})
    version, records = index(po, ds)
    assert version == 2
    assert records == {"abc": first}  # same version, same hash

    put_record(po, alice, ds, "abc", {"tags": ["dog"]})
    version, records = index(po, ds)
    assert version == 3
    assert records["abc"]["version"] == 3
    assert records["abc"]["hash"] != first["hash"]
    assert records["abc"]["links"] == []
    assert native_versions(alice, ds) == [3, 2, 1, 0]


def test_equal_values_hash_alike_whatever_their_key_order(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    put_record(po, alice, ds, "one", {"a": 1, "b": [1, 2]})
    put_record(po, alice, ds, "two", {"b": [1, 2], "a": 1})
    put_record(po, alice, ds, "three", {"b": [2, 1], "a": 1})
    _, records = index(po, ds)
    assert records["one"]["hash"] == records["two"]["hash"]
    assert records["one"]["hash"] != records["three"]["hash"]


def test_deleting_a_record_is_a_new_version(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "a", 1)
    put_record(po, alice, ds, "b", 2)
    _, before = index(po, ds)

    response = po.delete(ds.record("a"), auth=basic(alice))
    assert response.status_code == 204, response.text
    assert response.content == b""
    cors(response)

    version, records = index(po, ds)
    assert version == 3  # above every record's version: the last change was a deletion
    assert records == {"b": before["b"]}
    assert records["b"]["version"] == 2
    assert error(po.get(ds.record("a")), 404) == "Record Not Found"
    assert native_versions(alice, ds) == [3, 2, 1, 0]


def test_deleting_a_missing_record_is_404_and_no_version(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    put_record(po, alice, ds, "a", 1)
    before = state(po, alice, ds)
    error(po.delete(ds.record("missing"), auth=basic(alice)), 404)
    assert state(po, alice, ds) == before


def test_the_index_hash_is_the_native_sha256(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "a", {"x": [1, 2, 3]})
    put_record(po, alice, ds, "b", {"type": "Buffer", "data": [1, 2]})
    put_record(po, alice, ds, "a", {"x": [1, 2, 3]})
    version, records = index(po, ds)
    native = native_records(alice, ds)
    assert set(native) == set(records) == {"a", "b"}
    for record_id, meta in records.items():
        assert native[record_id]["kind"] == "record"
        assert native[record_id]["sha256"] == meta["hash"]
        assert native[record_id]["version"] == meta["version"]
    assert versions(po, ds) == {"a": 1, "b": 2}
    listed = alice.client.get(f"{ds.native}/records").json()["version"]
    assert listed == version == 3


def test_an_empty_dataset_index(po: httpx.Client, ds: Dataset) -> None:
    response = po.get(ds.records)
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["x-version"] == "0"
    assert response.headers["etag"] == '"0"'
    cors(response)


# --- single records: reading -----------------------------------------------------------------


def test_read_a_record(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "r", {"hello": "world"})
    put_record(po, alice, ds, "other", 1)
    response = po.get(ds.record("r"))
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.json() == {"hello": "world"}
    assert response.headers["x-version"] == "1"  # the record's version
    cors(response)


def test_a_missing_record_is_404(po: httpx.Client, ds: Dataset) -> None:
    response = po.get(ds.record("missing"))
    assert error(response, 404) == "Record Not Found"
    assert response.json() == {"error": "Record Not Found", "stack": False}


def test_each_tagged_json_value_round_trips_as_a_record(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    for name, tagged in TAGGED.items():
        put_record(po, alice, ds, name, tagged)
    for name, tagged in TAGGED.items():
        assert value(po, ds, name) == tagged, name


def test_a_record_of_every_tag_round_trips(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "all", TAGGED)
    assert value(po, ds, "all") == TAGGED
    assert alice.client.get(f"{ds.native}/records/all").json() == TAGGED


def test_a_big_integer_is_accepted(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "big", {"type": "BigInteger", "data": str(2**70)})
    response = po.get(ds.record("big"), headers={"Accept": CBOR})
    assert cbor2.loads(response.content) == 2**70


def test_a_big_integer_round_trips_as_a_tag(po: httpx.Client, alice: User, ds: Dataset) -> None:
    big = {"type": "BigInteger", "data": str(2**70)}
    put_record(po, alice, ds, "big", big)
    assert value(po, ds, "big") == big


def test_read_a_record_as_cbor(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "r", TAGGED)
    response = po.get(ds.record("r"), headers={"Accept": CBOR})
    assert response.status_code == 200
    assert response.headers["content-type"] == CBOR
    cors(response)
    decoded = cbor2.loads(response.content)
    assert decoded["buffer"] == bytes([0, 1, 127, 255])
    assert decoded["set"] == {1, "two", False}
    assert isinstance(decoded["map"], cbor2.CBORTag)
    assert decoded["map"].tag == 259
    assert decoded["date"] == datetime.datetime(2021, 7, 2, 4, 26, 40, 123000, datetime.UTC)
    assert decoded["infinity"] == math.inf
    assert decoded["minus-infinity"] == -math.inf
    assert math.isnan(decoded["nan"])
    assert decoded["text"] == "ü and 🐦"
    assert decoded["plain"] == {"type": "not a tag", "data": 1}


def test_write_a_record_as_cbor(po: httpx.Client, alice: User, ds: Dataset) -> None:
    body = cbor2.dumps({"b": b"\x00\xff", "s": {3}, "n": [1, -2.5], "u": "ü"})
    response = po.put(
        ds.record("c"), content=body, headers={"Content-Type": CBOR}, auth=basic(alice)
    )
    assert response.status_code == 204, response.text
    assert value(po, ds, "c") == {
        "b": {"type": "Buffer", "data": [0, 255]},
        "s": {"type": "Set", "data": [3]},
        "n": [1, -2.5],
        "u": "ü",
    }
    assert versions(po, ds) == {"c": 1}


def test_any_value_but_null_is_a_record(po: httpx.Client, alice: User, ds: Dataset) -> None:
    bodies: list[object] = [1, "text", [], {}, False, 0, 0.5, -7]
    for number, body in enumerate(bodies):
        put_record(po, alice, ds, f"v{number}", body)
    for number, body in enumerate(bodies):
        got = value(po, ds, f"v{number}")
        assert got == body
        assert type(got) is type(body)


# --- single records: writing errors ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"null", b'{"type": "constant", "data": "undefined"}'],
    ids=["null", "undefined"],
)
def test_a_record_cannot_be_set_to_null(
    po: httpx.Client, alice: User, ds: Dataset, body: bytes
) -> None:
    response = po.put(
        ds.record("n"),
        content=body,
        headers={"Content-Type": "application/json"},
        auth=basic(alice),
    )
    assert error(response, 400) == "Records cannot be set to null"
    assert state(po, alice, ds) == (0, {}, [0])


def test_null_cannot_replace_a_record_either(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "n", 1)
    before = state(po, alice, ds)
    response = po.put(
        ds.record("n"),
        content=b"null",
        headers={"Content-Type": "application/json"},
        auth=basic(alice),
    )
    error(response, 400)
    assert state(po, alice, ds) == before
    assert value(po, ds, "n") == 1


UNDECODABLE: list[tuple[str | None, bytes]] = [
    ("text/plain", b"hello"),
    ("text/plain", b'{"a": 1}'),
    ("application/octet-stream", b"\x00\x01"),
    (None, b'{"a": 1}'),
    ("application/json", b'{"a": '),
    ("application/json", b"NaN"),
    (CBOR, b"\xff\xff"),
    (CBOR, cbor2.dumps(1) + cbor2.dumps(2)),
]


def test_an_undecodable_body_stores_nothing(po: httpx.Client, alice: User, ds: Dataset) -> None:
    for content_type, body in UNDECODABLE:
        headers = {"Content-Type": content_type} if content_type else {}
        response = po.put(ds.record("t"), content=body, headers=headers, auth=basic(alice))
        assert 400 <= response.status_code < 500, (content_type, body, response.text)
        error(response, response.status_code)
    assert state(po, alice, ds) == (0, {}, [0])


def test_someone_else_may_not_write_records(
    po: httpx.Client, alice: User, bob: User, ds: Dataset
) -> None:
    put_record(po, alice, ds, "r", "alice's")
    before = state(po, alice, ds)
    # This system's rule for record routes: 401 for anyone who may not write.
    challenge(po.put(ds.record("r"), json="bob's", auth=basic(bob)))
    challenge(po.put(ds.record("new"), json="bob's", auth=basic(bob)))
    challenge(po.delete(ds.record("r"), auth=basic(bob)))
    challenge(po.put(ds.record("r"), json="anonymous"))
    challenge(po.put(ds.record("new"), json="anonymous"))
    challenge(po.delete(ds.record("r")))
    assert state(po, alice, ds) == before
    assert value(po, ds, "r") == "alice's"


def test_the_admin_may_write_anyones_records(
    po: httpx.Client, admin: User, alice: User, ds: Dataset
) -> None:
    put_record(po, admin, ds, "r", "admin's")
    assert value(po, ds, "r") == "admin's"
    assert po.delete(ds.record("r"), auth=basic(admin)).status_code == 204


def test_writing_to_a_missing_dataset_is_404(po: httpx.Client, alice: User) -> None:
    missing = Dataset(alice.username, "nothere")
    error(po.put(missing.record("r"), json=1, auth=basic(alice)), 404)


# --- record ids ------------------------------------------------------------------------------


ODD_IDS = ["a/b/ü", "with space", "🐦", "a:b@c", "x?y#z", "100%", "a+b&c=d", "'q'\"", "..x"]


def test_odd_record_ids_round_trip(po: httpx.Client, alice: User, ds: Dataset) -> None:
    for record_id in ODD_IDS:
        put_record(po, alice, ds, record_id, {"id": record_id})
    for record_id in ODD_IDS:
        assert value(po, ds, record_id) == {"id": record_id}
    _, records = index(po, ds)
    assert set(records) == set(ODD_IDS)
    assert set(native_records(alice, ds)) == set(ODD_IDS)
    for record_id in ODD_IDS:
        response = po.delete(ds.record(record_id), auth=basic(alice))
        assert response.status_code == 204, record_id
    assert index(po, ds) == (2 * len(ODD_IDS), {})


def test_a_slashed_id_may_also_be_sent_with_literal_slashes(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    response = po.put(f"{ds.url}/records/a/b/%C3%BC", json=1, auth=basic(alice))
    assert response.status_code == 204
    assert value(po, ds, "a/b/ü") == 1
    assert po.get(f"{ds.url}/records/a/b/%C3%BC").json() == 1


# --- method override -------------------------------------------------------------------------


def test_method_override_put_on_a_record(po: httpx.Client, alice: User, ds: Dataset) -> None:
    response = po.post(ds.record("r"), params={"_method": "PUT"}, json=[1], auth=basic(alice))
    assert response.status_code == 204, response.text
    assert value(po, ds, "r") == [1]
    assert index(po, ds)[0] == 1

    response = po.post(ds.record("r"), params={"_method": "DELETE"}, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert error(po.get(ds.record("r")), 404) == "Record Not Found"
    assert index(po, ds)[0] == 2


def test_a_plain_post_to_a_record_is_405(po: httpx.Client, alice: User, ds: Dataset) -> None:
    error(po.post(ds.record("r"), json=1, auth=basic(alice)), 405)
    assert state(po, alice, ds) == (0, {}, [0])


# --- §8 the same records through the native API ----------------------------------------------


def test_records_are_native_records(po: httpx.Client, alice: User, bob: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "a", {"x": 1, "b": {"type": "Buffer", "data": [7]}})
    put_record(po, alice, ds, "b", [1, 2])
    put_record(po, alice, ds, "a", {"x": 1, "b": {"type": "Buffer", "data": [7]}})
    assert po.delete(ds.record("b"), auth=basic(alice)).status_code == 204
    put_record(po, alice, ds, "c", "three")
    version, records = index(po, ds)
    assert version == 5

    for record_id in records:
        native = bob.client.get(f"{ds.native}/records/{record_id}")  # public: bob reads it
        assert native.status_code == 200, native.text
        assert native.json() == value(po, ds, record_id)
        assert native.headers["etag"] == f'"{records[record_id]["hash"]}"'
    assert bob.client.get(f"{ds.native}/records/b").status_code == 404

    assert native_versions(alice, ds) == [5, 4, 3, 2, 1, 0]
    dataset = alice.client.get(ds.native).json()
    assert dataset["version"] == version
    assert dataset["record_count"] == 2
    entries = native_records(alice, ds)
    assert {k: v["version"] for k, v in entries.items()} == {"a": 1, "c": 5}
    assert {k: v["sha256"] for k, v in entries.items()} == {
        k: v["hash"] for k, v in records.items()
    }


def test_native_writes_show_up_here(po: httpx.Client, alice: User, ds: Dataset) -> None:
    response = alice.client.put(f"{ds.native}/records/n", json={"from": "native"})
    assert response.status_code == 201, response.text
    version, records = index(po, ds)
    assert version == 1
    assert records["n"]["version"] == 1
    assert records["n"]["hash"] == response.json()["entry"]["sha256"]
    assert value(po, ds, "n") == {"from": "native"}


def test_a_form_record_write_holds_json_in_record_data(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    response = po.post(
        ds.record("f"),
        params={"_method": "PUT"},
        data={"recordData": '{"from": "a form"}'},
        auth=basic(alice),
    )
    assert response.status_code in (204, 303), response.text
    assert value(po, ds, "f") == {"from": "a form"}
