"""dataloft.core.values and dataloft.core.cbor: tagged JSON on the wire, canonical CBOR at
rest."""

from __future__ import annotations

import json
import math
from typing import Any

import cbor2
import pytest

from dataloft.core.cbor import decode_record, encode_record, read_stored
from dataloft.core.decoding import MAX_DEPTH, DecodeLimits
from dataloft.core.errors import Invalid
from dataloft.core.values import (
    JSURL,
    PIECEWISE_MEMBERS,
    UNDEFINED,
    JSDate,
    JSMap,
    JSSet,
    from_jsonable,
    parse_json,
    render_json,
    render_plain_json,
    to_jsonable,
)

LIMITS = DecodeLimits()


def _parse(text: str | bytes) -> Any:
    """A client's JSON, within the default limits."""
    return parse_json(text.encode() if isinstance(text, str) else text, LIMITS)


def _decode(raw: bytes) -> Any:
    """A client's CBOR, within the default limits."""
    return decode_record(raw, LIMITS)


def _strict_loads(raw: bytes) -> Any:
    """json.loads that refuses NaN / Infinity: what every other JSON parser does."""

    def refuse(token: str) -> Any:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(raw, parse_constant=refuse)


def _round_trip(value: Any) -> Any:
    return read_stored(encode_record(value))


def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- JSON tags -> Python -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"Buffer","data":[]}', b""),
        ('{"type":"Buffer","data":[0,1,127,255]}', b"\x00\x01\x7f\xff"),
        ('{"type":"Set","data":[]}', JSSet([])),
        ('{"type":"Set","data":[3,1,2]}', JSSet([3, 1, 2])),
        ('{"type":"Set","data":["a","a","b"]}', JSSet(["a", "b"])),
        # JavaScript compares objects in a Set by reference: equal-looking arrays stay apart.
        ('{"type":"Set","data":[[1],[1],{"k":1}]}', JSSet([[1], [1], {"k": 1}])),
        ('{"type":"Set","data":[1,true,0,false,1,true]}', JSSet([1, True, 0, False])),
        ('{"type":"Map","data":[]}', JSMap([])),
        (
            '{"type":"Map","data":[[1,"one"],["1","str"],[[2],{"x":null}]]}',
            JSMap([(1, "one"), ("1", "str"), ([2], {"x": None})]),
        ),
        ('{"type":"Date","data":1700000000123}', JSDate(1700000000123)),
        ('{"type":"Date","data":0}', JSDate(0)),
        ('{"type":"Date","data":-1}', JSDate(-1)),
        ('{"type":"Date","data":1.5}', JSDate(1.5)),
        ('{"type":"URL","data":"https://example.org/a?b=c"}', JSURL("https://example.org/a?b=c")),
        (
            '{"type":"BigInteger","data":"123456789012345678901234567890"}',
            123456789012345678901234567890,
        ),
        ('{"type":"BigInteger","data":"-42"}', -42),
        ('{"type":"constant","data":"infinity"}', math.inf),
        ('{"type":"constant","data":"-infinity"}', -math.inf),
    ],
)
def test_parse_json_untags(text: str, expected: Any) -> None:
    value = _parse(text)
    assert type(value) is type(expected)
    assert value == expected


def test_parse_json_undefined_and_nan() -> None:
    assert _parse('{"type":"constant","data":"undefined"}') is UNDEFINED
    nan = _parse('{"type":"constant","data":"NaN"}')
    assert isinstance(nan, float)
    assert math.isnan(nan)


def test_parse_json_untags_nested_values() -> None:
    value = _parse(
        '{"outer":[{"type":"Set","data":[{"type":"Buffer","data":[9]}]},'
        '{"type":"Map","data":[[{"type":"Date","data":5},{"type":"URL","data":"u:x"}]]}]}'
    )
    assert value == {"outer": [JSSet([b"\x09"]), JSMap([(JSDate(5), JSURL("u:x"))])]}
    assert type(value["outer"][1].pairs[0][1]) is JSURL


def test_date_keeps_integer_milliseconds_as_int() -> None:
    assert type(_parse('{"type":"Date","data":1700000000000.0}').ms) is int


def test_set_keeps_distinct_members_of_different_types() -> None:
    # JavaScript's Set holds 1 and true (and 0 and false) as different members.
    value = _parse('{"type":"Set","data":[1,true,0,false]}')
    assert isinstance(value, JSSet)
    assert [(type(v), v) for v in value.items] == [(int, 1), (bool, True), (int, 0), (bool, False)]


# --- look-alikes stay plain objects ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"Buffer","data":[256]}',
        '{"type":"Buffer","data":[-1]}',
        '{"type":"Buffer","data":[1.5]}',
        '{"type":"Buffer","data":"AQI="}',
        '{"type":"Buffer","data":["1"]}',
        '{"type":"Set","data":{"a":1}}',
        '{"type":"Set","data":"abc"}',
        '{"type":"Map","data":[[1]]}',
        '{"type":"Map","data":[[1,2,3]]}',
        '{"type":"Map","data":{"a":1}}',
        '{"type":"Date","data":"2020-01-01"}',
        '{"type":"Date","data":true}',
        '{"type":"Date","data":null}',
        '{"type":"URL","data":5}',
        '{"type":"BigInteger","data":12}',
        '{"type":"BigInteger","data":"12x"}',
        '{"type":"BigInteger","data":"0x10"}',
        '{"type":"constant","data":"null"}',
        '{"type":"constant","data":"Infinity"}',
        '{"type":"constant","data":1}',
        '{"type":"buffer","data":[1]}',
        '{"type":"Unknown","data":[1]}',
        '{"type":"Buffer","data":[1],"extra":true}',
        '{"type":"Buffer"}',
        '{"data":[1]}',
        '{"Type":"Buffer","data":[1]}',
    ],
)
def test_invalid_tags_stay_plain_objects(text: str) -> None:
    expected = json.loads(text)
    value = _parse(text)
    assert type(value) is dict
    assert value == expected
    assert _round_trip(value) == expected
    assert json.loads(render_json(value)) == expected


@pytest.mark.parametrize("digits", ["1_000", "\u0661\u0662"])
def test_biginteger_accepts_only_plain_decimal_digits(digits: str) -> None:
    # Python's int() also takes '_' separators and non-ASCII digits; BigInt() in JavaScript
    # rejects both, so these are not BigIntegers and must stay plain objects.
    text = json.dumps({"type": "BigInteger", "data": digits})
    assert _parse(text) == {"type": "BigInteger", "data": digits}


# --- JSON -> CBOR -> JSON ----------------------------------------------------------------------

ROUND_TRIP_DOCS = [
    "null",
    "true",
    "0",
    "-17",
    "1.25",
    '"text ü ✓"',
    "[]",
    "{}",
    '{"a":[1,2,{"b":null}],"c":"d"}',
    '{"type":"Buffer","data":[0,1,2,255]}',
    '{"type":"Set","data":[3,"x",[1],{"type":"Buffer","data":[1]}]}',
    '{"type":"Map","data":[[2,"two"],[1,"one"],["k",{"type":"Set","data":[1]}]]}',
    '{"type":"Date","data":1700000000123}',
    '{"type":"Date","data":1.5}',
    '{"type":"Date","data":-8640000000000000}',
    '{"type":"URL","data":"https://example.org/ü"}',
    '{"type":"constant","data":"undefined"}',
    '{"type":"constant","data":"NaN"}',
    '{"type":"constant","data":"infinity"}',
    '{"type":"constant","data":"-infinity"}',
    '{"nested":{"deeper":[{"type":"constant","data":"undefined"},{"type":"Date","data":7}]}}',
]


@pytest.mark.parametrize("text", ROUND_TRIP_DOCS)
def test_json_cbor_json_round_trip(text: str) -> None:
    value = _parse(text)
    rendered = render_json(_decode(encode_record(value)))
    assert _strict_loads(rendered) == json.loads(text)
    # and once more: a second pass changes nothing, byte for byte
    again = _parse(rendered)
    assert encode_record(again) == encode_record(value)
    assert render_json(_decode(encode_record(again))) == rendered


def test_biginteger_round_trips_its_value() -> None:
    big = 2**100 + 7
    value = _parse(json.dumps({"n": {"type": "BigInteger", "data": str(big)}}))
    assert _round_trip(value) == {"n": big}
    assert json.loads(render_json(_round_trip(value)))["n"] == big


@pytest.mark.parametrize(
    ("number", "tagged"),
    [
        (0, False),
        (2**53 - 1, False),
        (2**53, False),  # still exactly a double
        (-(2**53), False),
        (2**53 + 1, True),  # JSON.parse would read 2**53
        (-(2**53) - 1, True),
        (2**70, True),
        (-(2**100) - 7, True),
    ],
)
def test_exact_integers_tags_what_a_double_cannot_hold(number: int, tagged: bool) -> None:
    rendered = json.loads(render_json(number, exact_integers=True))
    assert rendered == ({"type": "BigInteger", "data": str(number)} if tagged else number)
    assert _parse(render_json(number, exact_integers=True)) == number
    # Without the option (the native API) every integer stays a number.
    assert json.loads(render_json(number)) == number


def test_exact_integers_reaches_every_nested_place() -> None:
    big = 2**64
    tag = {"type": "BigInteger", "data": str(big)}
    value = {
        "list": [big],
        "set": JSSet([big]),
        "map": JSMap([(big, big)]),
        "int-keys": {big: 1},
        "flags": [True, False],
        "float": 2.0**64,
    }
    assert to_jsonable(value, exact_integers=True) == {
        "list": [tag],
        "set": {"type": "Set", "data": [tag]},
        "map": {"type": "Map", "data": [[tag, tag]]},
        "int-keys": {"type": "Map", "data": [[tag, 1]]},
        "flags": [True, False],
        "float": 2.0**64,
    }
    # (A dict with an integer key comes back as a JSMap, so it is left out here.)
    plain = {key: item for key, item in value.items() if key != "int-keys"}
    assert encode_record(_parse(render_json(plain, exact_integers=True))) == (encode_record(plain))


@pytest.mark.parametrize(
    "ms", [0, 1, -1, 1700000000001, 1700000000999, 253402300799999, 0.5, 1234.567]
)
def test_dates_round_trip_exactly(ms: float) -> None:
    back = _round_trip(JSDate(ms))
    assert back == JSDate(ms)
    assert type(back.ms) is type(JSDate(ms).ms)


def test_url_round_trips_as_url() -> None:
    back = _round_trip(JSURL("https://x/"))
    assert type(back) is JSURL
    assert back == "https://x/"


def test_render_json_format() -> None:
    value = _parse('{"b":[1,{"type":"Buffer","data":[7]}],"a":"é"}')
    assert render_json(value) == '{"b":[1,{"type":"Buffer","data":[7]}],"a":"é"}'.encode()
    assert render_json([1], indent=2) == b"[\n  1\n]"


# --- canonical bytes ---------------------------------------------------------------------------


def test_equal_values_encode_identically_regardless_of_key_order() -> None:
    one = _parse('{"a":1,"b":{"x":[1,2],"y":{"p":true,"q":null}},"c":"z"}')
    two = _parse('{"c":"z","b":{"y":{"q":null,"p":true},"x":[1,2]},"a":1}')
    assert list(one) != list(two)
    assert encode_record(one) == encode_record(two)


def test_different_values_encode_differently() -> None:
    assert encode_record({"a": 1}) != encode_record({"a": 2})
    assert encode_record([1, 2]) != encode_record([2, 1])
    assert encode_record(JSSet([1, 2])) != encode_record(JSSet([2, 1]))
    assert encode_record("1") != encode_record(1)


def test_equal_dicts_with_non_string_keys_encode_identically() -> None:
    # Python dicts (and CBOR maps) are unordered: equal dicts must give equal bytes.
    first, second = {1: "a", 2: "b"}, {2: "b", 1: "a"}
    assert first == second
    assert encode_record(first) == encode_record(second)


def test_encode_record_is_canonical_cbor() -> None:
    value = {"bb": 1, "a": [1.5, b"\x00"], "c": None}
    assert encode_record(value) == cbor2.dumps(value, canonical=True)
    assert encode_record({"b": 1, "a": 2}) == bytes.fromhex("a2616102616201")


# --- from_jsonable matches parse_json ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        *ROUND_TRIP_DOCS,
        '{"type":"Buffer","data":[256]}',
        '[{"type":"Set","data":[{"type":"Set","data":[1]}]},{"type":"Map","data":[[1]]}]',
        '{"k":{"type":"BigInteger","data":"99999999999999999999"}}',
    ],
)
def test_from_jsonable_matches_parse_json(text: str) -> None:
    assert encode_record(from_jsonable(json.loads(text))) == encode_record(_parse(text))


def test_from_jsonable_and_parse_json_agree_on_depth() -> None:
    too_deep = _nest(MAX_DEPTH + 50)
    with pytest.raises(Invalid, match=f"deeper than {MAX_DEPTH} levels"):
        from_jsonable(json.loads(too_deep))
    with pytest.raises(Invalid, match=f"deeper than {MAX_DEPTH} levels"):
        _parse(too_deep)


def test_moderate_nesting_is_fine() -> None:
    text = _nest(100)
    assert render_json(_round_trip(_parse(text))) == text.encode()
    assert encode_record(from_jsonable(json.loads(text))) == encode_record(_parse(text))


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["", "{", '{"a":1,}', "[1 2]", "{'a':1}", "tru", '"unterminated', "1 2", b"\x00"],
)
def test_malformed_json_is_invalid(raw: str | bytes) -> None:
    with pytest.raises(Invalid, match="malformed JSON"):
        _parse(raw)


@pytest.mark.parametrize("raw", ["NaN", "[Infinity]", '{"a":-Infinity}'])
def test_non_standard_json_constants_are_invalid(raw: str) -> None:
    # RFC 8259 has no NaN/Infinity literals; they travel as {"type":"constant"} tags.
    with pytest.raises(Invalid):
        _parse(raw)


@pytest.mark.parametrize("raw", [b'["\xff"]', b'{"a":"\xc3\x28"}', b'"\xed\xa0\x80"'])
def test_invalid_utf8_json_is_invalid(raw: bytes) -> None:
    with pytest.raises(Invalid, match="not valid UTF-8"):
        _parse(raw)


def test_very_deep_json_is_invalid() -> None:
    with pytest.raises(Invalid, match="nested deeper"):
        _parse(_nest(100_000))
    with pytest.raises(Invalid, match="nested deeper"):
        _parse('{"a":' * 100_000 + "1" + "}" * 100_000)


def test_deep_values_are_invalid_to_encode_and_render() -> None:
    value: Any = []
    for _ in range(MAX_DEPTH + 10):
        value = [value]
    with pytest.raises(Invalid, match="nested deeper"):
        encode_record(value)
    with pytest.raises(Invalid, match="nested deeper"):
        to_jsonable(value)


def test_deep_cbor_is_invalid() -> None:
    raw = b"\x81" * (MAX_DEPTH + 50) + b"\x80"
    with pytest.raises(Invalid):
        _decode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff",
        b"\x82\x01",  # array of 2, one item
        b"\x62a",  # text of 2, one byte
        b"\x62\xff\xfe",  # text that is not UTF-8
        b"\xa2\x01\x01\x01\x02",  # duplicate map key
        b"\x1c",  # reserved additional information
        b"\x01\x02",  # trailing data after one item
    ],
)
def test_malformed_cbor_is_invalid(raw: bytes) -> None:
    with pytest.raises(Invalid):
        _decode(raw)


@pytest.mark.parametrize("tag", [6, 99, 1000, 9999, 65535])
def test_unknown_cbor_tags_are_invalid(tag: int) -> None:
    with pytest.raises(Invalid, match=f"unsupported CBOR tag {tag}"):
        _decode(cbor2.dumps(cbor2.CBORTag(tag, 1)))
    with pytest.raises(Invalid, match=f"unsupported CBOR tag {tag}"):
        _decode(cbor2.dumps({"deep": [cbor2.CBORTag(tag, "x")]}))


def test_cbor_date_strings_become_dates() -> None:
    # Tag 0 (RFC 3339 text) is a date like tag 1: it is kept as a Date, not refused.
    assert _decode(cbor2.dumps(cbor2.CBORTag(0, "2020-01-01T00:00:00Z"))) == JSDate(1577836800000)


@pytest.mark.parametrize(
    "obj",
    [
        cbor2.CBORTag(4, [-1, 15]),  # decimal fraction
        cbor2.CBORTag(30, [1, 3]),  # rational
        cbor2.CBORTag(35, "a+"),  # regular expression
        cbor2.CBORTag(37, bytes(16)),  # UUID
    ],
)
def test_cbor_tags_without_a_json_form_are_invalid(obj: cbor2.CBORTag) -> None:
    # Whatever decode_record accepts is stored as a record and must render as JSON later;
    # a value that cannot is an unsupported tag and has to be refused up front.
    with pytest.raises(Invalid):
        _decode(cbor2.dumps(obj))


@pytest.mark.parametrize(
    "obj",
    [
        cbor2.CBORTag(1, "not a number"),
        cbor2.CBORTag(32, 5),
        cbor2.CBORTag(259, 5),
        cbor2.CBORTag(259, [[1]]),
    ],
)
def test_malformed_known_tags_are_invalid(obj: cbor2.CBORTag) -> None:
    with pytest.raises(Invalid):
        _decode(cbor2.dumps(obj))


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_decoded_values_render_as_strict_json(number: float) -> None:
    # An epoch date that is not finite: either refuse it or render standard JSON.
    try:
        value = _decode(cbor2.dumps(cbor2.CBORTag(1, number)))
        rendered = render_json(value)
    except Invalid:
        return
    _strict_loads(rendered)


class _Opaque:
    pass


def test_unknown_python_types_are_invalid() -> None:
    with pytest.raises(Invalid, match="cannot represent a _Opaque as JSON"):
        render_json({"a": [_Opaque()]})
    with pytest.raises(Invalid, match="cannot store a _Opaque in a record"):
        encode_record({"a": [_Opaque()]})


@pytest.mark.parametrize("text", [r'"\ud800"', r'{"k":["a\udfffb"]}', r'{"\udc00":1}'])
def test_lone_surrogates_from_json_escapes_are_invalid(text: str) -> None:
    # Valid JSON syntax, but not Unicode text: refusing it must be an Invalid (a 400),
    # not a UnicodeEncodeError escaping from the encoder (a 500).
    with pytest.raises(Invalid):
        encode_record(_parse(text))


# --- CBOR from clients -------------------------------------------------------------------------


def test_client_cbor_dict_with_int_keys_renders_as_map_tag() -> None:
    value = _decode(cbor2.dumps({1: "one", 2: [b"\x05"]}))
    expected = {"type": "Map", "data": [[1, "one"], [2, [{"type": "Buffer", "data": [5]}]]]}
    assert json.loads(render_json(value)) == expected
    # once stored, it comes back as the same Map
    assert json.loads(render_json(_round_trip(value))) == expected


def test_client_cbor_nested_dict_with_mixed_keys_renders_as_map_tag() -> None:
    value = _decode(cbor2.dumps({"outer": {"s": 1, 2: "x"}}))
    assert json.loads(render_json(value)) == {
        "outer": {"type": "Map", "data": [["s", 1], [2, "x"]]}
    }


def test_client_cbor_native_types() -> None:
    raw = cbor2.dumps(
        {
            "bytes": b"\x00\xff",
            "undef": cbor2.undefined,
            "big": 2**70,
            "neg": -(2**70),
            "half": 1.5,
            "set": cbor2.CBORTag(258, [1, 2]),
            "map": cbor2.CBORTag(259, {1: 2}),
            "date": cbor2.CBORTag(1, 1700000000.5),
            "url": cbor2.CBORTag(32, "https://x/"),
        }
    )
    value = _decode(raw)
    assert value == {
        "bytes": b"\x00\xff",
        "undef": UNDEFINED,
        "big": 2**70,
        "neg": -(2**70),
        "half": 1.5,
        "set": JSSet([1, 2]),
        "map": JSMap([(1, 2)]),
        "date": JSDate(1700000000500),
        "url": JSURL("https://x/"),
    }
    assert json.loads(render_json(value))["date"] == {"type": "Date", "data": 1700000000500}


def test_non_canonical_client_cbor_is_stored_canonically() -> None:
    value = _decode(cbor2.dumps({"b": 1, "a": 2}))
    assert encode_record(value) == encode_record({"a": 2, "b": 1})
    assert encode_record(value) == bytes.fromhex("a2616102616201")


def test_large_containers_render_member_by_member_to_the_same_text() -> None:
    """Written a member at a time (so other threads run in between), the text is the one
    a single json.dumps gives, byte for byte."""
    count = PIECEWISE_MEMBERS + 5
    mapping = {f"k{i}": {"a": [1, 2.5, "é", None], "b": {"c": True}} for i in range(count)}
    listing = [[i, "ü", {"d": -0.5}] for i in range(count)]
    for value in (mapping, listing, {"small": [1]}):
        expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        assert render_json(value) == expected
    with pytest.raises(Invalid, match="unpaired surrogate"):
        render_json({f"k{i}": "\ud800" for i in range(count)})


@pytest.mark.parametrize("members", [0, 3, PIECEWISE_MEMBERS, PIECEWISE_MEMBERS + 1, 2500])
def test_plain_json_is_the_same_bytes_as_render_json(members: int) -> None:
    index = {
        f'récord {n:05d} \u2028 "q"': {
            "hash": f"{n:064x}",
            "links": ["hash://sha256/x?a=é"] * (n % 2),
            "version": n,
            "ok": n % 3 == 0,
            "none": None,
        }
        for n in range(members)
    }
    assert render_plain_json(index) == render_json(index, exact_integers=True)


def test_plain_json_refuses_an_unpaired_surrogate() -> None:
    index = {f"r{n}": {"hash": "\ud800" if n == 1500 else "x"} for n in range(2000)}
    with pytest.raises(Invalid, match="surrogate"):
        render_plain_json(index)
