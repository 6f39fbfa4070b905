"""Record values: tagged JSON on the wire, canonical CBOR at rest.

Records are stored as canonical CBOR so that binary buffers, Sets, Maps with non-string
keys, Dates and ``undefined`` survive, and so that equal values always hash alike (the
record's sha256 is its ETag and Pigeon Optics' ``hash``). On the JSON wire those types travel
as objects with exactly the keys ``type`` and ``data``, the convention Pigeon Optics clients
use: ``{"type": "Buffer", "data": [1, 2]}``, ``{"type": "Set", "data": [...]}``,
``{"type": "Map", "data": [[k, v], ...]}``, ``{"type": "Date", "data": <epoch ms>}``,
``{"type": "URL", "data": "..."}``, ``{"type": "BigInteger", "data": "123"}`` and
``{"type": "constant", "data": "undefined" | "infinity" | "-infinity" | "NaN"}``.

A ``BigInteger`` tag is read as an integer. Integers are written as plain JSON numbers
unless the caller asks for ``exact_integers``: then one of magnitude over 2**53, which a
JavaScript client's ``JSON.parse`` may round to a nearby double, is written as the tag.
The Pigeon Optics dialect asks for it (its clients are JavaScript); the native API keeps
plain numbers, as it documents.
"""

from __future__ import annotations

import calendar
import datetime
import io
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import cbor2

from dataloft.core.errors import Invalid

UNDEFINED = cbor2.undefined
MAX_DEPTH = 200

_TAG_EPOCH = 1
_TAG_URI = 32
_TAG_SET = 258
_TAG_MAP = 259


class JSSet:
    """An ordered set with JavaScript's membership rule (SameValueZero): primitives are
    equal when they are the same type and value (``1`` and ``true`` are different members,
    ``NaN`` equals ``NaN``); arrays, objects and buffers are distinct objects, never merged."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        unique: list[Any] = []
        seen: set[tuple[str, Any]] = set()
        for item in items:
            key = _same_value_key(item)
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


def _same_value_key(item: Any) -> tuple[str, Any] | None:
    """The identity of a primitive under SameValueZero; None for objects."""
    if item is None or item is UNDEFINED:
        return ("constant", repr(item))
    if isinstance(item, bool):
        return ("boolean", item)
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
        if math.isfinite(data):
            return JSDate(data)
    elif kind == "URL" and isinstance(data, str):
        return JSURL(data)
    elif kind == "BigInteger" and isinstance(data, str) and _BIG_INTEGER.fullmatch(data):
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


def _reject_constant(name: str) -> Any:
    raise Invalid(f"malformed JSON: {name} is not a JSON value")


def parse_json(raw: bytes | str) -> Any:
    """Parse strict JSON text (UTF-8 when bytes) into a record value, undoing the
    ``{type, data}`` tags. NaN and Infinity, which are not JSON, are refused."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, object_hook=untag, parse_constant=_reject_constant)
    except RecursionError:
        raise Invalid(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise Invalid("JSON body is not valid UTF-8") from None
    except ValueError as exc:
        raise Invalid(f"malformed JSON: {exc}") from None
    check_depth(value)
    return value


def check_depth(value: Any) -> None:
    """Refuse values nested deeper than ``MAX_DEPTH`` (without recursing ourselves)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, JSSet):
            stack.extend((child, depth + 1) for child in item.items)
        elif isinstance(item, JSMap):
            stack.extend((part, depth + 1) for pair in item.pairs for part in pair)


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


# --- CBOR storage format ---------------------------------------------------------------------


def _encode_custom(encoder: Any, value: Any) -> None:
    if isinstance(value, JSSet):
        encoder.encode(cbor2.CBORTag(_TAG_SET, value.items))
    elif isinstance(value, JSMap):
        encoder.encode(cbor2.CBORTag(_TAG_MAP, [[k, v] for k, v in value.pairs]))
    elif isinstance(value, JSDate):
        encoder.encode(cbor2.CBORTag(_TAG_EPOCH, value.ms / 1000))
    else:
        raise Invalid(f"cannot store a {type(value).__name__} in a record")


def encode_record(value: Any) -> bytes:
    """The canonical CBOR bytes of a record value: equal values give equal bytes."""
    try:
        return bytes(cbor2.dumps(_prepare(value, 0), canonical=True, default=_encode_custom))
    except RecursionError:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeEncodeError:
        raise Invalid("text contains an unpaired surrogate") from None
    except cbor2.CBOREncodeError as exc:
        if isinstance(exc.__cause__, UnicodeEncodeError):
            raise Invalid("text contains an unpaired surrogate") from None
        raise Invalid(f"cannot encode record: {exc}") from None


def _prepare(value: Any, depth: int) -> Any:
    """Replace the types cbor2 would encode in a way we do not want (URLs, sets)."""
    if depth > MAX_DEPTH:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
    deeper = depth + 1
    if isinstance(value, JSURL):
        return cbor2.CBORTag(_TAG_URI, str(value))
    if isinstance(value, list | tuple):
        return [_prepare(v, deeper) for v in value]
    if isinstance(value, dict):
        # A plain map stays a CBOR map whatever its keys: canonical encoding sorts the keys,
        # so equal maps hash alike. (Map-tagged values are JSMap: ordered, as in JavaScript.)
        return {_prepare(k, deeper): _prepare(v, deeper) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return JSSet(_prepare(v, deeper) for v in value)
    if isinstance(value, JSSet):
        return JSSet(_prepare(v, deeper) for v in value.items)
    if isinstance(value, JSMap):
        return JSMap((_prepare(k, deeper), _prepare(v, deeper)) for k, v in value.pairs)
    return value


def _set_from_cbor(value: Any, _immutable: bool) -> JSSet:
    return JSSet(value)


def _map_from_cbor(value: Any, _immutable: bool) -> JSMap:
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return JSMap((k, v) for k, v in value)
    if isinstance(value, dict):
        return JSMap(value.items())
    raise Invalid("CBOR tag 259 (Map) must hold a map or a list of pairs")


def _date_from_cbor(value: Any, _immutable: bool) -> JSDate:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid("CBOR tag 1 (epoch date) must hold a finite number")
    return JSDate(round(value * 1000, 3))


def _url_from_cbor(value: Any, _immutable: bool) -> JSURL:
    if not isinstance(value, str):
        raise Invalid("CBOR tag 32 (URI) must hold a string")
    return JSURL(value)


def _unknown_tag(tag: Any, _immutable: bool) -> Any:
    raise Invalid(f"unsupported CBOR tag {tag.tag}")


_SEMANTIC = {
    _TAG_EPOCH: _date_from_cbor,
    _TAG_URI: _url_from_cbor,
    _TAG_SET: _set_from_cbor,
    _TAG_MAP: _map_from_cbor,
}


def decode_record(raw: bytes) -> Any:
    """Decode one CBOR item (ours or a client's) into a record value. Trailing bytes, and
    types a record cannot hold (UUIDs, decimals, regular expressions, ...), are refused."""
    stream = io.BytesIO(raw)
    value = _decode_one(_decoder(stream))
    if stream.read(1):
        raise Invalid("malformed CBOR: bytes left over after the first item")
    return value


def decode_sequence(raw: bytes) -> Iterator[Any]:
    """Decode a CBOR sequence (RFC 8742: items one after another) into record values."""
    stream = io.BytesIO(raw)
    decoder = _decoder(stream)
    while stream.tell() < len(raw):
        yield _decode_one(decoder)


def _decoder(stream: io.BytesIO) -> cbor2.CBORDecoder:
    return cbor2.CBORDecoder(
        stream,
        semantic_decoders=_SEMANTIC,
        tag_hook=_unknown_tag,
        max_depth=MAX_DEPTH,
        allow_duplicate_keys=False,
    )


def _decode_one(decoder: cbor2.CBORDecoder) -> Any:
    try:
        value = decoder.decode()
    except Invalid:
        raise
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        cause = exc.__cause__
        if isinstance(cause, Invalid):
            raise cause from None
        raise Invalid(f"malformed CBOR: {exc}") from None
    return _storable(value)


_PLAIN = (type(None), bool, int, float, str, bytes, JSDate, JSURL)


def _storable(value: Any) -> Any:
    """Check a decoded CBOR value holds only what a record can: dates of any CBOR form
    become JSDate, anything else unknown is refused."""
    if isinstance(value, _PLAIN) or value is UNDEFINED:
        return value
    if isinstance(value, datetime.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return JSDate(round(stamp.timestamp() * 1000, 3))
    if isinstance(value, datetime.date):
        return JSDate(calendar.timegm(value.timetuple()) * 1000)
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return JSSet(_storable(item) for item in value)
    if isinstance(value, JSSet):
        return JSSet(_storable(item) for item in value.items)
    if isinstance(value, JSMap):
        return JSMap((_storable(k), _storable(v)) for k, v in value.pairs)
    raise Invalid(f"records cannot hold a CBOR {type(value).__name__}")


class RenderCache:
    """Rendered JSON of small records by sha256. Records never change (a new value is a new
    digest), so an entry can never be stale; the cache only bounds how much it keeps."""

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._rendered: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def json(self, digest: str, cbor: bytes) -> bytes:
        with self._lock:
            found = self._rendered.get(digest)
            if found is not None:
                self._rendered.move_to_end(digest)
                return found
        rendered = render_json(decode_record(cbor))
        with self._lock:
            if digest not in self._rendered:
                self._rendered[digest] = rendered
                self._bytes += len(rendered)
                while self._bytes > self._max_bytes:
                    _, dropped = self._rendered.popitem(last=False)
                    self._bytes -= len(dropped)
        return rendered
