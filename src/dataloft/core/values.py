"""Record values: the types they are made of, and their tagged JSON wire format.

Records are stored as canonical CBOR (``dataloft.core.cbor``) so that binary buffers,
Sets, Maps with non-string keys, Dates and ``undefined`` survive, and so that equal values
always hash alike (the record's sha256 is its ETag and Pigeon Optics' ``hash``). On the
JSON wire those types travel as objects with exactly the keys ``type`` and ``data``, the
convention Pigeon Optics clients use: ``{"type": "Buffer", "data": [1, 2]}``,
``{"type": "Set", "data": [...]}``, ``{"type": "Map", "data": [[k, v], ...]}``,
``{"type": "Date", "data": <epoch ms>}``, ``{"type": "URL", "data": "..."}``,
``{"type": "BigInteger", "data": "123"}`` and
``{"type": "constant", "data": "undefined" | "infinity" | "-infinity" | "NaN"}``.

A ``BigInteger`` tag is read as an integer. Integers are written as plain JSON numbers
unless the caller asks for ``exact_integers``: then one of magnitude over 2**53, which a
JavaScript client's ``JSON.parse`` may round to a nearby double, is written as the tag.
The Pigeon Optics dialect asks for it (its clients are JavaScript); the native API keeps
plain numbers, as it documents.

Every decoder of client bytes keeps to ``dataloft.core.decoding``'s limits while it
decodes, and ends with ``check_value``: a value that passes can be stored, and read back
in every format.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

import cbor2
import orjson

from dataloft.core.decoding import (
    INTEGER_BOUND,
    MAX_DATE_MS,
    MAX_DEPTH,
    MAX_INTEGER_DIGITS,
    DecodeLimits,
    integer_too_large,
    loads_json,
    scan_json,
)
from dataloft.core.errors import Invalid

UNDEFINED = cbor2.undefined


class JSSet:
    """An ordered set with JavaScript's membership rule (SameValueZero): primitives are
    equal when they are the same type and value (``1`` and ``true`` are different members,
    ``NaN`` equals ``NaN``); arrays, objects and buffers are distinct objects, never merged."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        unique: list[Any] = []
        seen: set[tuple[str, Any]] = set()
        for item in items:
            key = same_value_key(item)
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            unique.append(item)
        self.items = unique

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSSet) and self.items == other.items

    __hash__ = None  # type: ignore[assignment]  # mutable, like list

    def __repr__(self) -> str:
        return f"JSSet({self.items!r})"


def same_value_key(item: Any) -> tuple[str, Any] | None:
    """The identity of a primitive under SameValueZero; None for objects."""
    if item is None or item is UNDEFINED:
        return ("constant", repr(item))
    if isinstance(item, bool):
        return ("boolean", item)
    if isinstance(item, int) and not -_EXACT_IN_DOUBLE <= item <= _EXACT_IN_DOUBLE:
        # A BigInt to JavaScript, never equal to a Number. Keyed by its bytes: Python hashes
        # an int modulo 2**61 - 1, so a client could send a Set of big integers whose hashes
        # all collide, and deduplicating n of them would take n**2 / 2 comparisons.
        return ("bigint", item.to_bytes(item.bit_length() // 8 + 1, "big", signed=True))
    if isinstance(item, int | float):
        return (
            ("number", "NaN") if isinstance(item, float) and math.isnan(item) else ("number", item)
        )
    if isinstance(item, str):
        return ("url" if isinstance(item, JSURL) else "string", str(item))
    return None


class JSMap:
    """An ordered map whose keys may be any value."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        self.pairs = [(key, value) for key, value in pairs]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSMap) and self.pairs == other.pairs

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __repr__(self) -> str:
        return f"JSMap({self.pairs!r})"


class JSDate:
    """A point in time as JavaScript keeps it: milliseconds since the epoch."""

    __slots__ = ("ms",)

    def __init__(self, ms: float) -> None:
        self.ms = int(ms) if float(ms).is_integer() else ms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSDate) and self.ms == other.ms

    def __hash__(self) -> int:
        return hash(("JSDate", self.ms))

    def __repr__(self) -> str:
        return f"JSDate({self.ms!r})"


def js_date(ms: Any) -> JSDate:
    """A Date from a client: milliseconds since the epoch, finite and within JavaScript's
    range (every encoder of a Date can write it, and no hash of one collides)."""
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        raise Invalid("a Date holds a number of milliseconds")
    if not -MAX_DATE_MS <= ms <= MAX_DATE_MS:  # NaN fails this test too
        raise Invalid(f"a Date lies within {MAX_DATE_MS} ms of 1970-01-01, as in JavaScript")
    return JSDate(ms)


class JSURL(str):
    """A string that is a URL (kept distinct so that it round-trips as a URL)."""


# --- JSON wire format ------------------------------------------------------------------------

_BIG_INTEGER = re.compile(r"-?[0-9]+")  # what JavaScript's BigInt() accepts, in decimal

_CONSTANTS: dict[str, Any] = {
    "undefined": UNDEFINED,
    "infinity": math.inf,
    "-infinity": -math.inf,
    "NaN": math.nan,
}


_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def untag(obj: dict[Any, Any], *, hex_buffers: bool = False) -> Any:
    """The value a ``{"type", "data"}`` object stands for, or the object itself when it is
    not such a tag. ``hex_buffers``: a Buffer's data may also be a hex string (as YAML
    writes it)."""
    if len(obj) != 2 or "type" not in obj or "data" not in obj:
        return obj
    kind, data = obj["type"], obj["data"]
    if kind == "Buffer" and isinstance(data, list):
        if all(isinstance(b, int) and 0 <= b <= 255 for b in data):
            return bytes(data)
    elif kind == "Buffer" and hex_buffers and isinstance(data, str) and _HEX.fullmatch(data):
        return bytes.fromhex(data)
    elif kind == "Set" and isinstance(data, list):
        return JSSet(data)
    elif kind == "Map" and isinstance(data, list):
        if all(isinstance(pair, list) and len(pair) == 2 for pair in data):
            return JSMap((k, v) for k, v in data)
    elif kind == "Date" and isinstance(data, int | float) and not isinstance(data, bool):
        return js_date(data)
    elif kind == "URL" and isinstance(data, str):
        return JSURL(data)
    elif kind == "BigInteger" and isinstance(data, str) and _BIG_INTEGER.fullmatch(data):
        if len(data.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise integer_too_large()
        return int(data)
    elif kind == "constant" and data in _CONSTANTS:
        return _CONSTANTS[data]
    return obj


def from_jsonable(data: Any, depth: int = 0) -> Any:
    """Undo the ``{type, data}`` tags in already parsed JSON data."""
    if depth > MAX_DEPTH:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
    if isinstance(data, list):
        return [from_jsonable(item, depth + 1) for item in data]
    if isinstance(data, dict):
        return untag({key: from_jsonable(value, depth + 1) for key, value in data.items()})
    return data


def parse_json(raw: bytes, limits: DecodeLimits) -> Any:
    """A record value from strict JSON text (UTF-8), ``{type, data}`` tags undone, within
    ``limits``. NaN and Infinity, which are not JSON, are refused."""
    return _parse_json(raw, limits, untag)


def parse_plain_json(raw: bytes, limits: DecodeLimits) -> Any:
    """A JSON document (a request body, a cursor) as plain data, within ``limits``."""
    return _parse_json(raw, limits, None)


def _parse_json(
    raw: bytes, limits: DecodeLimits, object_hook: Callable[[dict[str, Any]], Any] | None
) -> Any:
    scan_json(raw, limits)
    value = loads_json(raw, object_hook)
    check_value(value, limits)
    return value


def parse_json_lines(raw: bytes, limits: DecodeLimits) -> Iterator[Any]:
    """The record values of JSON Lines text, one per non-blank line; the lines together are
    one body to ``limits``. Every line counts as an element, a blank one too: telling them
    apart before the scan would take a list of the lines, and a million short lines are
    45 MB of bytes objects (measured), the very thing the scan is there to prevent."""
    scan_json(raw, limits, documents=raw.count(b"\n") + 1)
    for number, line in enumerate(io.BytesIO(raw), start=1):
        if line.strip():
            try:
                value = loads_json(line, untag)
                check_value(value, limits)
            except Invalid as error:
                raise Invalid(f"line {number}: {error.message}") from None
            yield value


def check_value(value: Any, limits: DecodeLimits) -> None:
    """Refuse a decoded value that breaks ``limits`` in what only the value shows: how deep
    it nests once written as JSON (a Buffer, Date or URL is an object, a Set an object
    holding an array, a Map or a map with other keys than strings an object holding an
    array of pairs), how many members each container holds, how long each string is, how
    large each integer. Every decoder calls it last. It walks with a stack of iterators, one
    per open container: no recursion, and no more memory than the value is deep."""
    max_depth, max_length = limits.depth, limits.string_length
    stack: list[tuple[Iterator[Any], int]] = [(iter((value,)), 0)]
    while stack:
        members, depth = stack[-1]
        item: Any = next(members, _DONE)
        if item is _DONE:
            stack.pop()
            continue
        kind = type(item)
        if kind is str or kind is bytes or kind is JSURL:
            if len(item) > max_length:
                raise limits.too_long()
            if kind is not str and depth + (2 if kind is bytes else 1) > max_depth:
                raise limits.too_deep()
        elif kind is int:
            if not -INTEGER_BOUND < item < INTEGER_BOUND:
                raise integer_too_large()
        elif kind is list or kind is tuple:
            _open(stack, iter(item), len(item), depth + 1, limits)
        elif kind is dict:
            if _STRINGS.issuperset(map(type, item)):  # every key a str (looked up in C)
                _open(stack, chain(item, item.values()), len(item), depth + 1, limits)
            else:  # written as a Map
                _open(stack, chain.from_iterable(item.items()), len(item), depth + 3, limits)
        elif kind is JSSet:
            _open(stack, iter(item.items), len(item.items), depth + 2, limits)
        elif kind is JSMap:
            _open(stack, chain.from_iterable(item.pairs), len(item.pairs), depth + 3, limits)
        elif (kind is JSDate or item is UNDEFINED) and depth + 1 > max_depth:
            raise limits.too_deep()


_DONE = object()
_STRINGS = frozenset({str})


def _open(
    stack: list[tuple[Iterator[Any], int]],
    members: Iterator[Any],
    size: int,
    depth: int,
    limits: DecodeLimits,
) -> None:
    """``check_value`` enters a container of ``size`` members, whose members nest at
    ``depth``."""
    if depth > limits.depth:
        raise limits.too_deep()
    if size > limits.members:
        raise limits.too_many_members()
    stack.append((members, depth))


def _float_to_json(value: float) -> Any:
    if math.isnan(value):
        return {"type": "constant", "data": "NaN"}
    if math.isinf(value):
        return {"type": "constant", "data": "infinity" if value > 0 else "-infinity"}
    return value


# Every integer up to this magnitude is exactly a double, so a JavaScript client's
# JSON.parse reads it back unchanged; beyond it, JSON.parse would round most integers.
_EXACT_IN_DOUBLE = 2**53


def to_jsonable(
    value: Any, depth: int = 0, *, exact_integers: bool = False, hex_buffers: bool = False
) -> Any:
    """Turn a record value into plain JSON data (dicts with str keys, lists, scalars).

    With ``exact_integers``, an integer of magnitude over 2**53 is written as a
    ``BigInteger`` tag, so that clients which read JSON numbers as doubles keep every
    digit; otherwise every integer is a plain number, as Python's JSON readers keep them.
    With ``hex_buffers`` a Buffer's data is a hex string (YAML's form), not a byte list."""
    return _JsonStyle(exact_integers, hex_buffers).convert(value, depth)


class _JsonStyle:
    """The choices of one ``to_jsonable`` call, carried down its recursion (a method call
    per node, no closure made per node: this runs for every record rendered)."""

    __slots__ = ("exact_integers", "hex_buffers")

    def __init__(self, exact_integers: bool, hex_buffers: bool) -> None:
        self.exact_integers = exact_integers
        self.hex_buffers = hex_buffers

    def convert(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
        deeper = depth + 1
        convert = self.convert
        if isinstance(value, JSURL):
            return {"type": "URL", "data": str(value)}
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            if self.exact_integers and abs(value) > _EXACT_IN_DOUBLE:
                return {"type": "BigInteger", "data": str(value)}
            return value
        if isinstance(value, float):
            return _float_to_json(value)
        if isinstance(value, list | tuple):
            return [convert(v, deeper) for v in value]
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {k: convert(v, deeper) for k, v in value.items()}
            return convert(JSMap(value.items()), depth)
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            return {"type": "Buffer", "data": data.hex() if self.hex_buffers else list(data)}
        if isinstance(value, JSSet):
            return {"type": "Set", "data": [convert(v, deeper) for v in value.items]}
        if isinstance(value, set | frozenset):
            return {"type": "Set", "data": [convert(v, deeper) for v in value]}
        if isinstance(value, JSMap):
            pairs = [[convert(k, deeper), convert(v, deeper)] for k, v in value.pairs]
            return {"type": "Map", "data": pairs}
        if isinstance(value, JSDate):
            return {"type": "Date", "data": value.ms}
        if value is UNDEFINED:
            return {"type": "constant", "data": "undefined"}
        raise Invalid(f"cannot represent a {type(value).__name__} as JSON")


# A container with more members than this is written member by member. One ``json.dumps``
# of a large value runs in C, holding the interpreter lock throughout (100 ms for the index
# of 60,000 records); one call per member lets other threads run in between.
PIECEWISE_MEMBERS = 1000


def render_json(value: Any, *, indent: int | None = None, exact_integers: bool = False) -> bytes:
    """JSON text (UTF-8) of a record value; ``exact_integers`` as for ``to_jsonable``."""
    jsonable = to_jsonable(value, exact_integers=exact_integers)
    try:
        if indent is None and _large(jsonable):
            return b"".join(_pieces(jsonable))
        return _dumps(jsonable, indent).encode()
    except UnicodeEncodeError:
        raise Invalid("text contains an unpaired surrogate") from None


def render_plain_json(value: dict[str, Any] | list[Any]) -> bytes:
    """The bytes ``render_json`` gives for a map or list that is plain JSON data already
    (string keys; strings, lists, maps, booleans, None and integers within 2**53 in it; no
    floats, whose text orjson writes differently), without ``to_jsonable``'s walk over
    every node. For a 10,000-record Pigeon Optics index: 0.5 ms with orjson, where
    ``json.dumps`` in batches took 9.4 ms and the walk with them 60 ms. orjson holds the
    interpreter lock throughout, but for so short a time that batching is not needed."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # An unpaired surrogate, or a value outside that contract: say so as render_json does.
        return render_json(value, exact_integers=True)


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=_separators(indent))


def _large(value: Any) -> bool:
    if isinstance(value, dict):
        return len(value) > PIECEWISE_MEMBERS and all(type(key) is str for key in value)
    return isinstance(value, list) and len(value) > PIECEWISE_MEMBERS


def _pieces(value: dict[str, Any] | list[Any]) -> Iterator[bytes]:
    """The same text as ``_dumps(value)``, a member at a time."""
    if isinstance(value, dict):
        yield b"{"
        for index, (key, member) in enumerate(value.items()):
            yield f"{',' if index else ''}{_dumps(key)}:{_dumps(member)}".encode()
        yield b"}"
        return
    yield b"["
    for index, member in enumerate(value):
        yield f"{',' if index else ''}{_dumps(member)}".encode()
    yield b"]"


def _separators(indent: int | None) -> tuple[str, str]:
    return (",", ": ") if indent is not None else (",", ":")
