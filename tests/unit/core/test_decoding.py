"""One contract for every decoder of client bytes (dataloft.core.decoding): JSON, JSON
Lines, CBOR (one item and a sequence), MessagePack and YAML each accept a value at each
limit and refuse one just past it, with the same error, whatever the format. Small limits
keep the bodies small; ``tests/functional/test_decoder_bombs.py`` and
``tests/dialects/pigeon/test_decoder_bombs.py`` send real bombs to a real server."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import msgpack
import pytest
import yaml

from dataloft.api.pigeon import msgpack_format, yaml_format
from dataloft.core.cbor import decode_record, decode_sequence, encode_record
from dataloft.core.decoding import MAX_INTEGER_DIGITS, DecodeLimits, scan_json
from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.values import JSDate, JSSet, parse_json, parse_json_lines, render_json

LIMITS = DecodeLimits(depth=6, elements=100, members=12, string_length=40)
BIGGEST = 10**MAX_INTEGER_DIGITS - 1


@dataclass(frozen=True)
class Format:
    """A decoder, and how to write a plain value (lists, dicts, strings, integers) in its
    format."""

    name: str
    decode: Callable[[bytes, DecodeLimits], Any]
    encode: Callable[[Any], bytes]


def _first(load_all: Callable[[bytes, DecodeLimits], Any]) -> Callable[[bytes, DecodeLimits], Any]:
    return lambda raw, limits: next(iter(load_all(raw, limits)))


FORMATS = [
    Format("json", parse_json, lambda value: json.dumps(value).encode()),
    Format("json-lines", _first(parse_json_lines), lambda value: json.dumps(value).encode()),
    Format("cbor", decode_record, cbor2.dumps),
    Format("cbor-sequence", _first(decode_sequence), cbor2.dumps),
    Format("msgpack", _first(msgpack_format.load_all), msgpack_format.dump),
    Format("yaml", _first(yaml_format.load_all), lambda value: yaml.safe_dump(value).encode()),
]
BY_NAME = {fmt.name: fmt for fmt in FORMATS}


def nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.fixture(params=FORMATS, ids=lambda fmt: fmt.name)
def fmt(request: pytest.FixtureRequest) -> Format:
    format_: Format = request.param
    return format_


def test_a_value_at_every_limit_is_accepted(fmt: Format) -> None:
    value = {
        "deep": nested(LIMITS.depth - 1),
        "wide": list(range(LIMITS.members)),
        "long": "x" * LIMITS.string_length,
    }
    assert fmt.decode(fmt.encode(value), LIMITS) == value


def test_the_biggest_integers_are_accepted(fmt: Format) -> None:
    # (With the default limits: some formats carry a big integer's digits in a string.)
    value = [BIGGEST, -BIGGEST]
    assert fmt.decode(fmt.encode(value), DecodeLimits()) == value


def test_nesting_past_the_limit_is_400(fmt: Format) -> None:
    assert fmt.decode(fmt.encode(nested(LIMITS.depth)), LIMITS) == nested(LIMITS.depth)
    with pytest.raises(Invalid, match=f"nested deeper than {LIMITS.depth} levels"):
        fmt.decode(fmt.encode(nested(LIMITS.depth + 1)), LIMITS)


# Deep enough that a decoder recursing per level would pass Python's recursion limit.
FAR_TOO_DEEP = {
    "json": b"[" * 100_000 + b"]" * 100_000,
    "json-lines": b"[" * 100_000 + b"]" * 100_000,
    "cbor": b"\x81" * 100_000 + b"\x80",
    "cbor-sequence": b"\x81" * 100_000 + b"\x80",
    "msgpack": b"\x91" * 100_000 + b"\x90",
    "yaml": b"- " * 100_000 + b"x\n",
}


def test_nesting_far_past_the_limit_is_refused_without_recursing(fmt: Format) -> None:
    with pytest.raises(Invalid):
        fmt.decode(FAR_TOO_DEEP[fmt.name], DecodeLimits(depth=LIMITS.depth))


def test_a_container_past_the_member_limit_is_413(fmt: Format) -> None:
    with pytest.raises(TooLarge, match=f"more than {LIMITS.members} members"):
        fmt.decode(fmt.encode(list(range(LIMITS.members + 1))), LIMITS)
    with pytest.raises(TooLarge, match=f"more than {LIMITS.members} members"):
        fmt.decode(fmt.encode({f"k{n}": n for n in range(LIMITS.members + 1)}), LIMITS)


def test_a_body_past_the_element_limit_is_413(fmt: Format) -> None:
    # Each container within the member limit; together past the element limit (in YAML,
    # where each parser event counts two, sooner).
    rows = [list(range(LIMITS.members)) for _ in range(LIMITS.elements // LIMITS.members)]
    body = fmt.encode([rows[: LIMITS.members], rows[: LIMITS.members]])
    with pytest.raises(TooLarge, match=f"more than {LIMITS.elements} elements"):
        fmt.decode(body, LIMITS)


def test_a_string_past_the_length_limit_is_413(fmt: Format) -> None:
    with pytest.raises(TooLarge, match=f"longer than {LIMITS.string_length}"):
        fmt.decode(fmt.encode(["x" * (LIMITS.string_length + 1)]), LIMITS)


@pytest.mark.parametrize(
    "value",
    [
        {"x" * (LIMITS.string_length + 1): 1},  # a key
        {"a": 1, "b": "x" * (LIMITS.string_length + 1)},  # a value
        {"a": [1, {"b": "x" * (LIMITS.string_length + 1)}]},  # deeper down
    ],
)
def test_a_maps_strings_are_held_to_the_length_limit(fmt: Format, value: Any) -> None:
    with pytest.raises(TooLarge, match=f"longer than {LIMITS.string_length}"):
        fmt.decode(fmt.encode(value), LIMITS)


def test_a_map_of_scalars_at_every_limit_is_accepted(fmt: Format) -> None:
    flat = {f"k{n:0{LIMITS.string_length - 1}d}": n for n in range(LIMITS.members - 3)}
    value = nested(LIMITS.depth - 1)
    value[0][0][0][0].append({**flat, "s": "x" * LIMITS.string_length, "f": 1.5})
    assert fmt.decode(fmt.encode(value), LIMITS) == value
    value[0][0][0][0][0]["deeper"] = []  # one level too deep now
    with pytest.raises(Invalid, match="nested deeper"):
        fmt.decode(fmt.encode(value), LIMITS)


# 10**4300, one digit too many, as each format writes it (Python's str() refuses it, so the
# text is spelled out).
TOO_BIG = "1" + "0" * MAX_INTEGER_DIGITS
TOO_BIG_BODIES = {
    "json": f"[{TOO_BIG}, -{TOO_BIG}]".encode(),
    "json-lines": f"[-{TOO_BIG}]".encode(),
    "cbor": cbor2.dumps([10**MAX_INTEGER_DIGITS]),
    "cbor-sequence": cbor2.dumps([-(10**MAX_INTEGER_DIGITS)]),
    "msgpack": msgpack.packb([{"type": "BigInteger", "data": TOO_BIG}]),
    "yaml": f"- {TOO_BIG}\n".encode(),
}


def test_an_integer_past_4300_digits_is_400(fmt: Format) -> None:
    with pytest.raises(Invalid, match=f"at most {MAX_INTEGER_DIGITS} decimal digits"):
        fmt.decode(TOO_BIG_BODIES[fmt.name], DecodeLimits())


@pytest.mark.parametrize("text", [f"0x{'f' * 3600}", f"0o{'7' * 4800}", f"!!int {TOO_BIG}"])
def test_a_yaml_integer_past_4300_digits_in_any_base_is_400(text: str) -> None:
    with pytest.raises(Invalid, match=f"at most {MAX_INTEGER_DIGITS} decimal digits"):
        BY_NAME["yaml"].decode(f"- {text}\n".encode(), DecodeLimits())


def test_the_biggest_integer_accepted_renders_as_json() -> None:
    # What the bound is for: every integer a decoder lets in can be written back.
    for value in (BIGGEST, -BIGGEST):
        assert json.loads(render_json([value])) == [value]
        assert json.loads(render_json([value], exact_integers=True)) == [
            {"type": "BigInteger", "data": str(value)}
        ]


# --- map keys and references -----------------------------------------------------------------

# Python hashes an int modulo 2**61 - 1: these all hash alike.
COLLIDING = [k * (2**61 - 1) for k in range(9, 12)]  # past 2**64: 9 * (2**61 - 1)


@pytest.mark.parametrize("name", ["cbor", "msgpack", "yaml"])
def test_a_container_as_a_map_key_is_400(name: str) -> None:
    raw = {
        "cbor": b"\xa1\x81\x01\x02",  # {[1]: 2}
        "msgpack": b"\x81\x91\x01\x02",
        "yaml": b"? [1]\n: 2\n",
    }[name]
    with pytest.raises(Invalid, match="a map key cannot be an array"):
        BY_NAME[name].decode(raw, LIMITS)


@pytest.mark.parametrize("name", ["cbor", "yaml"])
def test_an_integer_beyond_64_bits_as_a_map_key_is_400(name: str) -> None:
    if name == "cbor":
        raw = cbor2.dumps(dict.fromkeys(COLLIDING, 1))
    else:
        raw = "".join(f"{key}: 1\n" for key in COLLIDING).encode()
    with pytest.raises(Invalid, match="a map key cannot be an integer beyond 64 bits"):
        BY_NAME[name].decode(raw, LIMITS)


class _CountedInt(int):
    """An int that counts how often it is compared for equality."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _CountedInt.compared += 1
        return int(self) == other

    __hash__ = int.__hash__


def test_a_set_of_colliding_big_integers_is_deduplicated_in_linear_time() -> None:
    # Members whose hashes collide made deduplicating quadratic: 2,000 of them took two
    # million comparisons (50,000 took minutes).
    members = [_CountedInt(k * (2**61 - 1)) for k in range(1, 2001)]
    _CountedInt.compared = 0
    assert len(JSSet(members + members).items) == len(members)
    assert _CountedInt.compared < 10 * len(members)


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        (25, "string references"),
        (256, "string references"),
        (28, "value sharing"),
        (29, "value sharing"),
    ],
)
def test_cbor_reference_tags_are_400_before_they_are_resolved(tag: int, kind: str) -> None:
    with pytest.raises(Invalid, match=f"CBOR tag {tag} \\({kind}\\) is not accepted"):
        decode_record(cbor2.dumps(cbor2.CBORTag(tag, 0)), LIMITS)


def test_a_cbor_value_shared_2_to_the_60_times_is_refused_at_once() -> None:
    # [shareable "x", shareable [ref 0, ref 0], shareable [ref 1, ref 1], ...]: 600 bytes
    # standing for 2**60 strings.
    items = [cbor2.dumps(cbor2.CBORTag(28, "x"))]
    for index in range(1, 61):
        ref = cbor2.dumps(cbor2.CBORTag(29, index - 1))
        items.append(b"\xd8\x1c\x82" + ref + ref)
    raw = b"\x98\x3d" + b"".join(items)
    with pytest.raises(Invalid, match="value sharing"):
        decode_record(raw, DecodeLimits())


def test_a_cbor_self_reference_is_400() -> None:
    with pytest.raises(Invalid, match="value sharing"):
        decode_record(b"\xd8\x1c\x81\xd8\x1d\x00", LIMITS)  # shareable([ref 0])


# --- declared lengths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\x9a\x00\x00\x00\x0b",  # an array of 11 items, and no items
        b"\x5a\xff\xff\xff\xff",  # 4 GiB of bytes, and no bytes
        b"\x9f" + b"\x01" * 13 + b"\xff",  # an indefinite array past the member limit
    ],
)
def test_cbor_lengths_are_checked_before_anything_is_allocated(raw: bytes) -> None:
    with pytest.raises((Invalid, TooLarge)):
        decode_record(raw, LIMITS)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xdd" + struct.pack(">I", 11),  # an array of 11 items, and no items
        b"\xdd" + struct.pack(">I", 50_000_000) + b"\xc0" * 10,  # was a 500 (IndexError)
        b"\xc6\xff\xff\xff\xff",  # 4 GiB of bytes, and no bytes
    ],
)
def test_msgpack_lengths_are_checked_before_anything_is_allocated(raw: bytes) -> None:
    with pytest.raises((Invalid, TooLarge)):
        list(msgpack_format.load_all(raw, LIMITS))


def test_msgpack_sets_nested_in_sets_count_as_nesting() -> None:
    value: Any = JSSet([])
    for _ in range(LIMITS.depth):
        value = JSSet([value])
    with pytest.raises(Invalid, match="nested deeper"):
        list(msgpack_format.load_all(msgpack_format.dump(value), LIMITS))


@pytest.mark.parametrize(
    "raw",
    [
        msgpack.packb(msgpack.ExtType(72, msgpack.packb([1]) + b"\x01")),  # bytes past the array
        msgpack.packb(msgpack.ExtType(72, msgpack.packb({"a": 1}))),  # not an array
        b"\xc7\x05\xff" + b"\x00" * 5,  # a timestamp (ext -1) of 5 bytes: there is none
    ],
)
def test_msgpack_extensions_hold_what_they_should(raw: bytes) -> None:
    with pytest.raises(Invalid):
        list(msgpack_format.load_all(raw, LIMITS))


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"Date","data":8640000000000001}',
        b'{"type":"Date","data":' + b"9" * 400 + b"}",  # was a 500 (float overflow)
        b'{"type":"Date","data":1e400}',
    ],
)
def test_dates_outside_javascripts_range_are_400(raw: bytes) -> None:
    with pytest.raises(Invalid, match="a Date lies within"):
        parse_json(raw, LIMITS)


def test_a_cbor_date_key_outside_javascripts_range_is_400() -> None:
    # Checked before the date becomes a key: out of range, dates' hashes could collide.
    key = b"\xc1" + cbor2.dumps(2**61 - 1)  # tag 1: seconds since the epoch
    with pytest.raises(Invalid, match="a Date lies within"):
        decode_record(b"\xa1" + key + b"\x01", LIMITS)


def test_the_widest_dates_round_trip() -> None:
    for ms in (-8_640_000_000_000_000, 8_640_000_000_000_000):
        value = parse_json(json.dumps({"type": "Date", "data": ms}).encode(), LIMITS)
        assert value == JSDate(ms)
        assert decode_record(encode_record(value), LIMITS) == value


# --- JSON scanning ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "elements"),
    [
        (b"[]", 2),
        (b"[1,2,3]", 4),
        (b'{"a":1,"b":[2]}', 6),
        (b'["[,{:", "]"]', 3),  # brackets, commas and colons in strings are text
        (b'["[,{:", "\\"]"]', 3),  # escaped quotes too
        (b'["\\\\", ",", "\\\\\\"[,"]', 4),  # and a quote after an escaped backslash
    ],
)
def test_json_elements_are_counted_outside_strings(text: bytes, elements: int) -> None:
    scan_json(text, DecodeLimits(elements=elements))
    with pytest.raises(TooLarge):
        scan_json(text, DecodeLimits(elements=elements - 1))
