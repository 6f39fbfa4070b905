"""Every codec of the Pigeon Optics dialect carries every record value there and back:
the value read back stores as the very same canonical CBOR (so the same ``hash``)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from dataloft.api.pigeon.codecs import CODECS, Codec, decode_items, encode_stream
from dataloft.core.cbor import encode_record
from dataloft.core.decoding import DecodeLimits
from dataloft.core.values import JSURL, UNDEFINED, JSDate, JSMap, JSSet

LIMITS = DecodeLimits()

VALUES: list[Any] = [
    None,
    True,
    0,
    -(2**63),
    2**64 - 1,
    2**80,  # beyond every codec's native integers
    1.5,
    math.inf,
    -math.inf,
    "text with ünïcode and a \n newline",
    "yes",  # a boolean to YAML 1.1
    "2021-07-02",  # a date to YAML 1.1
    "012",
    b"\x00\x01\xff",
    b"",
    [1, [2, [3]]],
    {"nested": {"map": [1, "two"]}, "": "empty key"},
    JSSet([1, "one", b"\x01", None]),
    JSMap([(1, "one"), ("two", 2), (JSSet([1]), "a set as key")]),
    JSDate(1625200000123),
    JSURL("https://example.org/a?b=c"),
    UNDEFINED,
    {"type": "constant", "data": "not a known constant"},
]


def same(a: Any, b: Any) -> bool:
    return encode_record(a) == encode_record(b)


@pytest.mark.parametrize("codec", CODECS, ids=lambda codec: codec.name)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_round_trips(codec: Codec, value: Any) -> None:
    assert same(codec.load(codec.dump(value), LIMITS), value)


@pytest.mark.parametrize("codec", CODECS, ids=lambda codec: codec.name)
def test_a_stream_round_trips(codec: Codec) -> None:
    streamed = b"".join(encode_stream(VALUES, codec))
    items = list(decode_items(streamed, codec, LIMITS))
    if codec.framing == "document":  # JSON: the stream is one array
        (items,) = items
    assert len(items) == len(VALUES)
    assert all(same(got, sent) for got, sent in zip(items, VALUES, strict=True))


@pytest.mark.parametrize("codec", CODECS, ids=lambda codec: codec.name)
def test_an_empty_stream(codec: Codec) -> None:
    streamed = b"".join(encode_stream([], codec))
    items = list(decode_items(streamed, codec, LIMITS))
    assert items in ([], [[]])
