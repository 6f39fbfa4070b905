"""The YAML and MessagePack encodings of Pigeon Optics (reference §5.1), with raw HTTP:
records and bulk bodies in, values, indexes and exports out, the types JSON lacks kept,
and malformed or hostile bodies refused with 400."""

from __future__ import annotations

import datetime
import io
from typing import Any

import httpx
import msgpack
import pytest
import yaml

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    Dataset,
    basic,
    bulk,
    error,
    index,
    state,
    value,
)

YAML = "application/yaml"
MSGPACK = "application/msgpack"


def put(po: httpx.Client, user: User, ds: Dataset, record_id: str, body: bytes, kind: str) -> None:
    response = po.put(
        ds.record(record_id), content=body, headers={"Content-Type": kind}, auth=basic(user)
    )
    assert response.status_code == 204, response.text


def read(po: httpx.Client, url: str, kind: str) -> bytes:
    response = po.get(url, headers={"Accept": kind})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == kind
    return response.content


def test_a_yaml_record_round_trips(po: httpx.Client, alice: User, ds: Dataset) -> None:
    text = b"""
title: a sign
answer: yes          # YAML 1.1 would make this a boolean; the core schema keeps a string
when: 2021-07-02     # and this a date
count: 012           # twelve, not ten
hex: 0x1f
nothing: ~
big: 1180591620717411303424
bytes: {type: Buffer, data: 00ff10}
tags: {type: Set, data: [a, b]}
"""
    put(po, alice, ds, "r", text, YAML)
    assert value(po, ds, "r") == {
        "title": "a sign",
        "answer": "yes",
        "when": "2021-07-02",
        "count": 12,
        "hex": 31,
        "nothing": None,
        "big": {"type": "BigInteger", "data": "1180591620717411303424"},
        "bytes": {"type": "Buffer", "data": [0, 255, 16]},
        "tags": {"type": "Set", "data": ["a", "b"]},
    }
    back = yaml.safe_load(read(po, ds.record("r"), YAML))
    assert back["bytes"] == {"type": "Buffer", "data": "00ff10"}  # YAML's Buffers are hex
    assert back["answer"] == "yes"
    assert back["big"] == {"type": "BigInteger", "data": "1180591620717411303424"}


def test_a_msgpack_record_round_trips(po: httpx.Client, alice: User, ds: Dataset) -> None:
    members = msgpack.packb(["a", 1])
    moment = msgpack.Timestamp.from_unix_nano(1_625_200_000_123_000_000)
    body = msgpack.packb(
        {"bin": b"\x00\xff", "set": msgpack.ExtType(72, members), "at": moment, "n": -5},
        use_bin_type=True,
    )
    put(po, alice, ds, "r", body, MSGPACK)
    assert value(po, ds, "r") == {
        "bin": {"type": "Buffer", "data": [0, 255]},
        "set": {"type": "Set", "data": ["a", 1]},
        "at": {"type": "Date", "data": 1625200000123},
        "n": -5,
    }
    back = msgpack.unpackb(read(po, ds.record("r"), MSGPACK), timestamp=3)
    assert back["bin"] == b"\x00\xff"
    assert back["set"] == msgpack.ExtType(72, members)
    assert back["at"] == datetime.datetime(2021, 7, 2, 4, 26, 40, 123000, datetime.UTC)


def test_types_without_a_msgpack_form_travel_as_tags(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    tagged = {
        "map": {"type": "Map", "data": [[1, "one"]]},
        "url": {"type": "URL", "data": "https://example.org/"},
        "undefined": {"type": "constant", "data": "undefined"},
        "huge": {"type": "BigInteger", "data": str(2**80)},
    }
    response = po.put(ds.record("r"), json=tagged, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert msgpack.unpackb(read(po, ds.record("r"), MSGPACK), strict_map_key=False) == tagged
    # ...and they are read back from MessagePack as the values they stand for.
    put(po, alice, ds, "copy", read(po, ds.record("r"), MSGPACK), MSGPACK)
    assert index(po, ds)[1]["copy"]["hash"] == index(po, ds)[1]["r"]["hash"]


@pytest.mark.parametrize(
    "body",
    [
        b"a: 1\nb: [x, 2]\n",  # one document: an object map
        b"- [a, 1]\n- {id: b, data: [x, 2]}\n",  # one document: a list of entries
        b"--- [a, 1]\n...\n--- {id: b, data: [x, 2]}\n...\n",  # several: one entry each
    ],
)
def test_yaml_bulk_bodies(po: httpx.Client, alice: User, ds: Dataset, body: bytes) -> None:
    assert bulk(po, alice, ds, content=body, content_type=YAML).status_code == 204
    assert value(po, ds, "a") == 1
    assert value(po, ds, "b") == ["x", 2]
    assert index(po, ds)[0] == 1


def test_msgpack_bulk_bodies(po: httpx.Client, alice: User, ds: Dataset) -> None:
    sequence = msgpack.packb(["a", 1]) + msgpack.packb({"id": "b", "data": None})
    assert bulk(po, alice, ds, {"b": 2}).status_code == 204
    assert bulk(po, alice, ds, content=sequence, content_type=MSGPACK).status_code == 204
    assert set(index(po, ds)[1]) == {"a"}  # null deleted b
    one_map = msgpack.packb({"c": 3, "d": 4})
    assert bulk(po, alice, ds, content=one_map, content_type=MSGPACK).status_code == 204
    assert set(index(po, ds)[1]) == {"a", "c", "d"}


def test_yaml_and_msgpack_exports(po: httpx.Client, alice: User, ds: Dataset) -> None:
    written = bulk(po, alice, ds, {"a": {"type": "Buffer", "data": [1]}, "b": "two"})
    assert written.status_code == 204
    response = po.get(f"{ds.url}/export/flat-file.yaml", params={"at": 2})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == YAML
    assert response.text.count("...\n") == 2
    documents = list(yaml.safe_load_all(response.text))
    assert [(d["id"], "data" in d) for d in documents] == [("a", False), ("b", False)]
    full = list(yaml.safe_load_all(po.get(f"{ds.url}/export/flat-file.yml").text))
    assert full[0]["data"] == {"type": "Buffer", "data": "01"}

    packed = po.get(f"{ds.url}/export/flat-file.msgpack")
    assert packed.headers["content-type"] == MSGPACK
    items = list(msgpack.Unpacker(io.BytesIO(packed.content)))
    assert [(item["id"], item["data"]) for item in items] == [("a", b"\x01"), ("b", "two")]


def test_the_index_in_yaml(po: httpx.Client, alice: User, ds: Dataset) -> None:
    assert bulk(po, alice, ds, {"x": 1}).status_code == 204
    listing: dict[str, Any] = yaml.safe_load(read(po, ds.records, YAML))
    assert listing == index(po, ds)[1]


HOSTILE_YAML = [
    b"a: &x [1, 2]\nb: *x\n",  # aliases: the billion laughs start here
    b"a: [1, 2\n",  # unclosed
    b"? [1, 2]\n: x\n",  # a key Python cannot hash
    b"!!python/object:os.system [echo hi]\n",  # only plain data is ever built
    b"- " * 300 + b"x\n",  # deeper than any record may be
    b"a: \xc3\x28 is not UTF-8\n",
]


HOSTILE_MSGPACK = [
    msgpack.packb({"a": [1, 2, 3]})[:-1],  # cut short
    msgpack.packb(msgpack.ExtType(5, b"??")),  # an extension nobody defined
    msgpack.packb(msgpack.ExtType(72, b"\xc1")),  # a Set holding garbage
    b"\xc1",  # a byte MessagePack never uses
    msgpack.packb(1) + msgpack.packb(2),  # two values where one record goes
]


HOSTILE = [(YAML, body) for body in HOSTILE_YAML] + [(MSGPACK, body) for body in HOSTILE_MSGPACK]


@pytest.mark.parametrize(("kind", "body"), HOSTILE)
def test_hostile_bodies_are_400(
    po: httpx.Client, alice: User, ds: Dataset, kind: str, body: bytes
) -> None:
    before = state(po, alice, ds)
    response = po.put(
        ds.record("r"), content=body, headers={"Content-Type": kind}, auth=basic(alice)
    )
    error(response, 400)
    assert state(po, alice, ds) == before
