"""Record values as MessagePack, the way Pigeon Optics writes them: Buffers are ``bin``,
Sets are extension type 72 (holding the packed array of their members), Dates are the
standard timestamp extension, and what MessagePack has no type for (Maps, URLs,
``undefined``, integers beyond 64 bits) travels as the JSON ``{type, data}`` tags. A
stream is items one after another.

A client's bytes are scanned before the C unpacker sees them (``_scan``), for the reasons
``dataloft.core.cbor`` gives for CBOR: the unpacker bounds each container by a declared
length and nothing else, so 5 MB of empty arrays became 1.1 GB of lists in 9 s, a Set
nested in a Set 3,000 times recursed past every limit (a 500), and an array declaring 50
million members and holding ten failed inside the unpacker (a 500). The scan walks the item
headers without building anything, Sets' contents included, and holds them to
``dataloft.core.decoding``'s limits.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import msgpack

from dataloft.core.decoding import MAX_DEPTH, DecodeLimits, bad_key
from dataloft.core.errors import Invalid
from dataloft.core.values import (
    JSURL,
    UNDEFINED,
    JSDate,
    JSMap,
    JSSet,
    check_value,
    js_date,
    untag,
)

SET_EXTENSION = 72
_INT_RANGE = range(-(2**63), 2**64)


def _packable(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
    deeper = depth + 1
    if isinstance(value, JSURL):
        return {"type": "URL", "data": str(value)}
    if isinstance(value, bool) or value is None or isinstance(value, str | float | bytes):
        return value
    if isinstance(value, int):
        return value if value in _INT_RANGE else {"type": "BigInteger", "data": str(value)}
    if isinstance(value, list | tuple):
        return [_packable(item, deeper) for item in value]
    if isinstance(value, dict):
        return {_packable(k, deeper): _packable(v, deeper) for k, v in value.items()}
    if isinstance(value, JSSet | set | frozenset):
        members = value.items if isinstance(value, JSSet) else list(value)
        packed = _pack([_packable(item, deeper) for item in members])
        return msgpack.ExtType(SET_EXTENSION, packed)
    if isinstance(value, JSMap):
        pairs = [[_packable(k, deeper), _packable(v, deeper)] for k, v in value.pairs]
        return {"type": "Map", "data": pairs}
    if isinstance(value, JSDate):
        return msgpack.Timestamp.from_unix_nano(round(value.ms * 1_000_000))
    if value is UNDEFINED:
        return {"type": "constant", "data": "undefined"}
    raise Invalid(f"cannot represent a {type(value).__name__} as MessagePack")


def _pack(data: Any) -> bytes:
    packed: bytes = msgpack.packb(data, use_bin_type=True, datetime=False)
    return packed


def dump(value: Any) -> bytes:
    return _pack(_packable(value))


# --- reading ---------------------------------------------------------------------------------

TIMESTAMP_EXTENSION = -1
_TIMESTAMP_SIZES = (4, 8, 12)

# What each first byte starts (the MessagePack specification's table): the kind of item,
# how many bytes of length field follow it, and otherwise the length (or member count) the
# byte itself holds; for a scalar, the size of its payload.
_SCALAR, _STR, _BIN, _ARRAY, _MAP, _EXT, _NEVER = range(7)
_FIRST_BYTE: list[tuple[int, int, int]] = [(_NEVER, 0, 0)] * 256
for _byte in range(256):
    if _byte <= 0x7F or _byte >= 0xE0 or _byte in (0xC0, 0xC2, 0xC3):
        _FIRST_BYTE[_byte] = (_SCALAR, 0, 0)  # fixints, nil, false, true
    elif _byte <= 0x8F:
        _FIRST_BYTE[_byte] = (_MAP, 0, _byte & 0x0F)
    elif _byte <= 0x9F:
        _FIRST_BYTE[_byte] = (_ARRAY, 0, _byte & 0x0F)
    elif _byte <= 0xBF:
        _FIRST_BYTE[_byte] = (_STR, 0, _byte & 0x1F)
_FIRST_BYTE[0xC4:0xE0] = [
    *[(_BIN, size, 0) for size in (1, 2, 4)],  # c4-c6: bin 8, 16, 32
    *[(_EXT, size, 0) for size in (1, 2, 4)],  # c7-c9: ext 8, 16, 32
    *[(_SCALAR, 0, size) for size in (4, 8)],  # ca-cb: float 32, 64
    *[(_SCALAR, 0, size) for size in (1, 2, 4, 8) * 2],  # cc-d3: uint and int 8 to 64
    *[(_EXT, 0, size) for size in (1, 2, 4, 8, 16)],  # d4-d8: fixext 1 to 16
    *[(_STR, size, 0) for size in (1, 2, 4)],  # d9-db: str 8, 16, 32
    *[(_ARRAY, size, 0) for size in (2, 4)],  # dc-dd: array 16, 32
    *[(_MAP, size, 0) for size in (2, 4)],  # de-df: map 16, 32
]
_KEY_KINDS = {_ARRAY: "an array", _MAP: "a map"}
# Items that are one byte, and nothing else: fixints, nil, false, true, and empty strings,
# arrays and maps.
_ONE_BYTE_ITEMS = frozenset([*range(0x00, 0x80), *range(0xE0, 0x100), 0x80, 0x90, 0xA0])
_ONE_BYTE_ITEMS |= frozenset((0xC0, 0xC2, 0xC3))
_ONE_BYTE_RUN = re.compile(b"[%s]*" % re.escape(bytes(sorted(_ONE_BYTE_ITEMS))))


def _malformed(why: str) -> Invalid:
    return Invalid(f"malformed MessagePack: {why}")


def _scan(data: bytes, limits: DecodeLimits) -> None:
    """Check a stream of MessagePack items against ``limits`` without unpacking it. A
    Set's payload is scanned where it lies, as a container of one item (its array) that
    must fill the payload exactly, so its members count and nest like any others."""
    end = len(data)
    pos = elements = 0
    # Open containers: [items left, items seen, whether a map, where a Set's payload ends
    # (-1 for arrays and maps)].
    stack: list[list[int]] = []
    while True:
        while stack and stack[-1][0] == 0:
            if stack.pop()[3] not in (-1, pos):
                raise _malformed("a Set (extension 72) holds one array and nothing else")
        if pos == end and not stack:
            return
        if pos >= end:
            raise _malformed("the last item is cut short")
        if data[pos] in _ONE_BYTE_ITEMS and stack and stack[-1][2:] == [0, -1]:
            # A run of one-byte items in an array (not a map, not a Set's payload, which
            # must be an array) is counted at once, by a regular expression: see
            # dataloft.core.cbor.
            frame = stack[-1]
            run = _ONE_BYTE_RUN.match(data, pos)
            taken = min(run.end() - pos if run else 0, frame[0])
            elements += taken
            if elements > limits.elements:
                raise limits.too_many_elements()
            pos += taken
            frame[0] -= taken
            frame[1] += taken
            continue
        kind, field, length = _FIRST_BYTE[data[pos]]
        pos += 1
        elements += 1
        if elements > limits.elements:
            raise limits.too_many_elements()
        is_key = False
        if stack:
            frame = stack[-1]
            is_key = frame[2] == 1 and frame[1] % 2 == 0
            if frame[3] >= 0 and kind != _ARRAY:
                raise _malformed("a Set (extension 72) holds one array and nothing else")
            frame[0] -= 1
            frame[1] += 1
        if kind == _NEVER:
            raise _malformed(f"byte {pos - 1} is 0xc1, which MessagePack never uses")
        if is_key and kind in _KEY_KINDS:
            raise bad_key(_KEY_KINDS[kind])
        if field:
            if field > end - pos:
                raise _malformed("the last item is cut short")
            length = int.from_bytes(data[pos : pos + field], "big")
            pos += field
        if kind in (_ARRAY, _MAP):
            if length > limits.members:
                raise limits.too_many_members()
            items = length * 2 if kind == _MAP else length
            if items > end - pos:  # every item takes at least a byte
                raise _malformed(f"a container declares {length} members; fewer bytes follow")
            if not items:
                continue
            stack.append([items, 0, int(kind == _MAP), -1])
        elif kind == _EXT and _extension_code(data, pos, end) == SET_EXTENSION:
            if is_key:
                raise bad_key("a Set")
            pos += 1
            if length > end - pos:
                raise _malformed("the last item is cut short")
            stack.append([1, 0, 0, pos + length])
        else:
            if kind == _EXT:
                code = _extension_code(data, pos, end)
                if code != TIMESTAMP_EXTENSION or length not in _TIMESTAMP_SIZES:
                    raise Invalid(f"unsupported MessagePack extension type {code}")
                pos += 1
            elif kind != _SCALAR and length > limits.string_length:
                raise limits.too_long()
            if length > end - pos:
                raise _malformed("the last item is cut short")
            pos += length
            continue
        if len(stack) > limits.depth:
            raise limits.too_deep()


def _extension_code(data: bytes, pos: int, end: int) -> int:
    if pos >= end:
        raise _malformed("the last item is cut short")
    return int.from_bytes(data[pos : pos + 1], "big", signed=True)


def _extension(code: int, data: bytes) -> Any:
    # Only Sets reach this (the scan refused other codes; timestamps are msgpack's own).
    return JSSet(_unpacker(io.BytesIO(data)).unpack())


def _unpacker(stream: io.BytesIO) -> msgpack.Unpacker:
    return msgpack.Unpacker(
        stream, raw=False, strict_map_key=False, ext_hook=_extension, timestamp=0
    )


def _restore(value: Any, depth: int = 0) -> Any:
    """MessagePack's values as record values: tags undone, timestamps as Dates. (The scan
    bounded the depth, so this recursion is bounded too.)"""
    deeper = depth + 1
    if isinstance(value, list):
        return [_restore(item, deeper) for item in value]
    if isinstance(value, dict):
        return untag({_restore(k, deeper): _restore(v, deeper) for k, v in value.items()})
    if isinstance(value, JSSet):
        return JSSet(_restore(item, deeper) for item in value.items)
    if isinstance(value, msgpack.Timestamp):
        return js_date(value.to_unix_nano() / 1_000_000)
    return value


def load_all(raw: bytes, limits: DecodeLimits) -> Iterator[Any]:
    """The items of a MessagePack stream, within one body's ``limits``."""
    _scan(raw, limits)
    items = iter(_unpacker(io.BytesIO(raw)))
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except (ValueError, TypeError, msgpack.UnpackException) as error:
            raise _malformed(str(error)) from None  # text that is not UTF-8, ...
        value = _restore(item)
        check_value(value, limits)
        yield value
