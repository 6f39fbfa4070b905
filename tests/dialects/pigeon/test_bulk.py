"""Pigeon Optics bulk writes, pinned with raw HTTP: ``POST …/records/`` merges (``null``
and ``undefined`` delete, ids not in the body are kept), ``PUT …/records/`` overwrites (ids
not in the body are deleted, ``undefined`` is an error), in every accepted body shape (an
object map, an array of ``[id, value]`` pairs or ``{id, data}`` objects, JSON Lines, a CBOR
sequence); each bulk write is exactly one dataset version, and a body with one bad entry
changes nothing at all."""

from __future__ import annotations

import json
from typing import Any

import cbor2
import httpx
import pytest

from dataloft.api.pigeon.bodies import IN_PROCESS_BYTES
from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    CBOR,
    NDJSON,
    Dataset,
    basic,
    bulk,
    challenge,
    cors,
    create_dataset,
    error,
    index,
    native_records,
    native_versions,
    put_record,
    state,
    value,
    versions,
)

UNDEFINED = {"type": "constant", "data": "undefined"}


def ok(response: httpx.Response) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""
    cors(response)


def jsonl(*items: Any) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def cbor_sequence(*items: Any) -> bytes:
    return b"".join(cbor2.dumps(item) for item in items)


@pytest.fixture
def seeded(po: httpx.Client, alice: User, ds: Dataset) -> Dataset:
    """alice's dataset at version 1 with records a=1, b=2, c=3 (all version 1)."""
    ok(bulk(po, alice, ds, {"a": 1, "b": 2, "c": 3}, method="PUT"))
    assert index(po, ds)[0] == 1
    assert versions(po, ds) == {"a": 1, "b": 1, "c": 1}
    return ds


# --- merge -----------------------------------------------------------------------------------


def test_merge_an_object_map(po: httpx.Client, alice: User, seeded: Dataset) -> None:
    ds = seeded
    _, before = index(po, ds)
    ok(bulk(po, alice, ds, {"a": 10, "b": None, "c": 3, "d": 4, "ghost": None}))
    version, records = index(po, ds)
    assert version == 2
    assert set(records) == {"a", "c", "d"}
    assert records["a"]["version"] == 2
    assert records["a"]["hash"] != before["a"]["hash"]
    assert records["c"] == before["c"]  # rewritten with the same value: untouched
    assert records["d"]["version"] == 2
    assert value(po, ds, "a") == 10
    assert value(po, ds, "d") == 4
    assert error(po.get(ds.record("b")), 404) == "Record Not Found"
    assert native_versions(alice, ds) == [2, 1, 0]


def test_merge_keeps_unlisted_records(po: httpx.Client, alice: User, seeded: Dataset) -> None:
    _, before = index(po, seeded)
    ok(bulk(po, alice, seeded, {"e": 5}))
    version, records = index(po, seeded)
    assert version == 2
    assert {k: records[k] for k in ("a", "b", "c")} == before
    assert records["e"]["version"] == 2


def test_merge_null_for_a_missing_id_is_fine(
    po: httpx.Client, alice: User, seeded: Dataset
) -> None:
    _, before = index(po, seeded)
    ok(bulk(po, alice, seeded, {"nothing-here": None}))
    assert index(po, seeded) == (2, before)  # still a write: one version
    assert native_versions(alice, seeded) == [2, 1, 0]


def test_merge_undefined_deletes(po: httpx.Client, alice: User, seeded: Dataset) -> None:
    ok(bulk(po, alice, seeded, {"a": UNDEFINED, "b": 20}))
    version, records = index(po, seeded)
    assert version == 2
    assert set(records) == {"b", "c"}
    assert records["b"]["version"] == 2
    assert records["c"]["version"] == 1


def test_an_empty_merge_is_still_one_version(
    po: httpx.Client, alice: User, seeded: Dataset
) -> None:
    _, before = index(po, seeded)
    ok(bulk(po, alice, seeded, {}))
    assert index(po, seeded) == (2, before)


# --- overwrite -------------------------------------------------------------------------------


def test_overwrite_deletes_unlisted_records(po: httpx.Client, alice: User, seeded: Dataset) -> None:
    _, before = index(po, seeded)
    ok(bulk(po, alice, seeded, {"a": 1, "x": 5}, method="PUT"))
    version, records = index(po, seeded)
    assert version == 2
    assert set(records) == {"a", "x"}
    assert records["a"] == before["a"]  # same value: keeps version 1
    assert records["x"]["version"] == 2
    assert error(po.get(seeded.record("b")), 404) == "Record Not Found"
    assert set(native_records(alice, seeded)) == {"a", "x"}
    assert native_versions(alice, seeded) == [2, 1, 0]


def test_overwrite_with_nothing_empties_the_dataset(
    po: httpx.Client, alice: User, seeded: Dataset
) -> None:
    ok(bulk(po, alice, seeded, {}, method="PUT"))
    assert index(po, seeded) == (2, {})


def test_overwrite_refuses_undefined(po: httpx.Client, alice: User, seeded: Dataset) -> None:
    before = state(po, alice, seeded)
    error(bulk(po, alice, seeded, {"a": UNDEFINED, "z": 26}, method="PUT"), 400)
    assert state(po, alice, seeded) == before


# --- body shapes -----------------------------------------------------------------------------

SHAPES: dict[str, tuple[bytes, str]] = {
    "json-pairs": (json.dumps([["p", 1], ["q", {"k": [1]}]]).encode(), "application/json"),
    "json-objects": (
        json.dumps([{"id": "p", "data": 1}, {"id": "q", "data": {"k": [1]}}]).encode(),
        "application/json",
    ),
    "json-mixed": (
        json.dumps([["p", 1], {"id": "q", "data": {"k": [1]}}]).encode(),
        "application/json",
    ),
    "jsonl-pairs": (jsonl(["p", 1], ["q", {"k": [1]}]), NDJSON),
    "jsonl-objects": (jsonl({"id": "p", "data": 1}, {"id": "q", "data": {"k": [1]}}), NDJSON),
    "jsonl-other-type": (jsonl(["p", 1], ["q", {"k": [1]}]), "application/jsonlines"),
    "cbor-pairs": (cbor_sequence(["p", 1], ["q", {"k": [1]}]), CBOR),
    "cbor-objects": (
        cbor_sequence({"id": "p", "data": 1}, {"id": "q", "data": {"k": [1]}}),
        CBOR,
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_body_shape_merges_and_overwrites_in_one_version(
    po: httpx.Client, alice: User, seeded: Dataset, shape: str
) -> None:
    content, content_type = SHAPES[shape]
    ok(bulk(po, alice, seeded, method="POST", content=content, content_type=content_type))
    version, merged = index(po, seeded)
    assert version == 2
    assert set(merged) == {"a", "b", "c", "p", "q"}
    assert merged["p"]["version"] == merged["q"]["version"] == 2
    assert merged["a"]["version"] == 1
    assert value(po, seeded, "p") == 1
    assert value(po, seeded, "q") == {"k": [1]}
    assert native_versions(alice, seeded) == [2, 1, 0]

    ok(bulk(po, alice, seeded, method="PUT", content=content, content_type=content_type))
    version, replaced = index(po, seeded)
    assert version == 3
    assert replaced == {"p": merged["p"], "q": merged["q"]}  # unchanged values keep version 2
    assert native_versions(alice, seeded) == [3, 2, 1, 0]


def test_jsonl_and_cbor_sequences_delete_with_null(
    po: httpx.Client, alice: User, seeded: Dataset
) -> None:
    ok(
        bulk(
            po,
            alice,
            seeded,
            content=jsonl(["a", None], {"id": "b", "data": None}),
            content_type=NDJSON,
        )
    )
    assert index(po, seeded)[0] == 2
    assert set(index(po, seeded)[1]) == {"c"}
    ok(
        bulk(
            po, alice, seeded, content=cbor_sequence(["c", None], ["d", b"\x01"]), content_type=CBOR
        )
    )
    version, records = index(po, seeded)
    assert version == 3
    assert set(records) == {"d"}
    assert value(po, seeded, "d") == {"type": "Buffer", "data": [1]}
    assert native_versions(alice, seeded) == [3, 2, 1, 0]
    # CBOR's own undefined deletes in a merge too.
    ok(bulk(po, alice, seeded, content=cbor_sequence(["d", cbor2.undefined]), content_type=CBOR))
    assert index(po, seeded) == (4, {})  # fmt: skip


def test_a_cbor_body_keeps_binary_and_sets(po: httpx.Client, alice: User, ds: Dataset) -> None:
    content = cbor_sequence(["b", {"bytes": b"\x00\xff", "set": {1, 2}}], ["t", "text"])
    ok(bulk(po, alice, ds, content=content, content_type=CBOR))
    assert value(po, ds, "b") == {
        "bytes": {"type": "Buffer", "data": [0, 255]},
        "set": {"type": "Set", "data": [1, 2]},
    }
    assert index(po, ds)[0] == 1


def test_a_one_entry_cbor_sequence_of_an_id_data_object(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    content = cbor_sequence({"id": "solo", "data": 1})
    ok(bulk(po, alice, ds, content=content, content_type=CBOR))
    assert set(index(po, ds)[1]) == {"solo"}


def test_a_one_entry_jsonl_body_of_an_id_data_object(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    ok(bulk(po, alice, ds, content=jsonl({"id": "solo", "data": 1}), content_type=NDJSON))
    assert set(index(po, ds)[1]) == {"solo"}


def test_several_bulk_writes_are_one_version_each(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    ok(bulk(po, alice, ds, {"a": 1, "b": 2, "c": 3, "d": 4}))
    ok(bulk(po, alice, ds, [["a", 1], ["b", 20]]))
    ok(bulk(po, alice, ds, content=jsonl(["c", None]), content_type=NDJSON))
    ok(bulk(po, alice, ds, {"a": 1, "b": 20, "e": 5}, method="PUT"))
    version, records = index(po, ds)
    assert version == 4
    assert {k: v["version"] for k, v in records.items()} == {"a": 1, "b": 2, "e": 4}
    assert native_versions(alice, ds) == [4, 3, 2, 1, 0]
    native = native_records(alice, ds)
    assert {k: v["version"] for k, v in native.items()} == {"a": 1, "b": 2, "e": 4}


# --- atomicity -------------------------------------------------------------------------------

BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "non-string-id": (json.dumps([["fine", 1], [1, 2]]).encode(), "application/json"),
    "duplicate-pair": (json.dumps([["dup", 1], ["dup", 2]]).encode(), "application/json"),
    "duplicate-object": (
        json.dumps([{"id": "dup", "data": 1}, {"id": "dup", "data": None}]).encode(),
        "application/json",
    ),
    "no-data": (json.dumps([{"id": "fine", "data": 1}, {"id": "x"}]).encode(), "application/json"),
    "extra-key": (json.dumps([{"id": "x", "data": 1, "more": 2}]).encode(), "application/json"),
    "triple": (json.dumps([["fine", 1], ["x", 1, 2]]).encode(), "application/json"),
    "scalar-entry": (json.dumps([["fine", 1], "x"]).encode(), "application/json"),
    "scalar-body": (b"5", "application/json"),
    "string-body": (b'"x"', "application/json"),
    "malformed-json": (b'{"fine": 1, ', "application/json"),
    "jsonl-bad-line": (jsonl(["fine", 1]) + b"{nope\n", NDJSON),
    "jsonl-no-data": (jsonl(["fine", 1], {"id": "x"}), NDJSON),
    "jsonl-duplicate": (jsonl(["dup", 1], ["dup", 2]), NDJSON),
    "cbor-bad-entry": (cbor_sequence(["fine", 1], [1, 2]), CBOR),
    "cbor-duplicate": (cbor_sequence(["dup", 1], {"id": "dup", "data": 2}), CBOR),
    "cbor-truncated": (cbor_sequence(["fine", 1]) + b"\x82\x61", CBOR),
    "text-plain": (b'{"fine": 1}', "text/plain"),
}


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_bad_entry_changes_nothing(
    po: httpx.Client, alice: User, seeded: Dataset, method: str
) -> None:
    before = state(po, alice, seeded)
    for name, (content, content_type) in BAD_BODIES.items():
        response = bulk(
            po, alice, seeded, method=method, content=content, content_type=content_type
        )
        assert response.status_code == 400, (name, response.text)
        error(response, 400)
    assert state(po, alice, seeded) == before
    assert value(po, seeded, "a") == 1


def test_bulk_writes_by_others_are_401_and_change_nothing(
    po: httpx.Client, alice: User, bob: User, seeded: Dataset
) -> None:
    before = state(po, alice, seeded)
    for method in ("POST", "PUT"):
        challenge(bulk(po, bob, seeded, {"a": "bob's"}, method=method))
        challenge(po.request(method, seeded.records, json={"a": "anonymous"}))
    assert state(po, alice, seeded) == before


def test_a_bulk_write_to_a_missing_dataset_is_404(po: httpx.Client, alice: User) -> None:
    missing = Dataset(alice.username, "nothere")
    error(bulk(po, alice, missing, {"a": 1}), 404)


def test_single_and_bulk_writes_share_one_history(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    put_record(po, alice, ds, "a", 1)
    ok(bulk(po, alice, ds, {"a": 1, "b": 2}))
    assert po.delete(ds.record("b"), auth=basic(alice)).status_code == 204
    ok(bulk(po, alice, ds, {"c": 3}, method="PUT"))
    assert index(po, ds)[0] == 4
    assert native_versions(alice, ds) == [4, 3, 2, 1, 0]
    assert versions(po, ds) == {"c": 4}


# --- large bodies: planned in a worker process -----------------------------------------------


def _large(count: int = 3000) -> dict[str, Any]:
    """An object map of more than IN_PROCESS_BYTES, with deletions and a link in it."""
    padding = "x" * 400
    records: dict[str, Any] = {f"r{i:05d}": {"n": i, "pad": padding} for i in range(count)}
    records["gone"] = None
    records["emoji 😀"] = {"é": True}
    return records


def test_a_large_body_is_planned_apart_and_written_alike(
    po: httpx.Client, alice: User, seeded: Dataset
) -> None:
    records = _large()
    body = json.dumps(records).encode()
    assert len(body) > IN_PROCESS_BYTES
    ok(bulk(po, alice, seeded, method="POST", content=body))
    version, written = index(po, seeded)
    assert version == 2
    expected = {key for key, record in records.items() if record is not None} | {"a", "b", "c"}
    assert set(written) == expected
    assert value(po, seeded, "r02999") == {"n": 2999, "pad": "x" * 400}
    assert value(po, seeded, "emoji 😀") == {"é": True}
    # The same bytes as a small write of the same value would store.
    small = create_dataset(po, alice)
    ok(bulk(po, alice, small, {"r00007": records["r00007"]}))
    assert index(po, small)[1]["r00007"]["hash"] == written["r00007"]["hash"]


def test_a_large_bad_body_is_the_same_400_and_changes_nothing(
    po: httpx.Client, alice: User, seeded: Dataset
) -> None:
    before = state(po, alice, seeded)
    records = _large()
    records["r00001"] = UNDEFINED
    body = json.dumps(records).encode()
    response = bulk(po, alice, seeded, method="PUT", content=body)
    error(response, 400)
    assert "undefined" in response.json()["error"]
    truncated = bulk(po, alice, seeded, content=body[: IN_PROCESS_BYTES + 10])
    error(truncated, 400)
    assert state(po, alice, seeded) == before


def test_a_large_body_linking_a_missing_attachment_asks_for_it(
    po: httpx.Client, alice: User, seeded: Dataset
) -> None:
    records = _large()
    link = "hash://sha256/" + "ab" * 32 + "?type=image%2Fpng"
    records["r00002"] = {"picture": link}
    response = bulk(po, alice, seeded, content=json.dumps(records).encode())
    error(response, 400)
    assert json.loads(response.headers["x-pigeon-optics-resend-with-attachments"]) == link
