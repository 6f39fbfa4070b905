"""Record values as CBOR: the canonical encoding they are stored in, and the CBOR clients
send, which is scanned before it is decoded.

**Why a scan.** cbor2's C decoder is fast, but it builds whatever the bytes describe, and
some small inputs describe very large values, or take very long to build: 2 MB of empty
arrays (one byte each) cost the server 300 MB, and a map of 50,000 big integers chosen
to collide in Python's hash took it a minute (both measured over HTTP). Its ``max_depth``
is its only bound, and its ``tag_hook`` never sees the tags it resolves itself (value
sharing, 28 and 29, and string references, 25 and 256; 600 bytes of shared values stood
for 2**60 strings). So ``scan_cbor`` first walks the item headers alone, building
nothing, and refuses what breaks ``dataloft.core.decoding``'s limits: too many elements
or members, too deep, too long a string or big integer, a declared length longer than
the bytes that follow (which the decoder would allocate for), a tag outside the few
records use, a map key that cannot be hashed safely. Only then does cbor2 decode, and it
can build nothing the scan did not allow. The scan costs about a third of a microsecond
an item (0.15 s for 20 MB of records, where cbor2 takes 0.06 s), and runs of one-byte
items are counted by a regular expression (2 ms for those 2 MB of empty arrays). The
reference tags are also refused by cbor2 itself (``_SEMANTIC``: overridden, its own
decoders for them are never called), for the stored records it reads unscanned.
"""

from __future__ import annotations

import calendar
import datetime
import io
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import cbor2

from dataloft.core.decoding import (
    INTEGER_BOUND,
    MAX_DEPTH,
    DecodeLimits,
    bad_key,
    integer_too_large,
    references_refused,
)
from dataloft.core.errors import Invalid
from dataloft.core.values import (
    JSURL,
    UNDEFINED,
    JSDate,
    JSMap,
    JSSet,
    check_value,
    js_date,
    render_json,
)

_TAG_DATE_TEXT = 0
_TAG_EPOCH = 1
_TAG_BIGNUM = 2
_TAG_NEGATIVE_BIGNUM = 3
_TAG_URI = 32
_TAG_EPOCH_DAYS = 100
_TAG_SET = 258
_TAG_MAP = 259
_TAG_DATE_ONLY = 1004
_TAG_SELF_DESCRIBED = 55799
_REFERENCE_TAGS = (25, 28, 29, 256)

# Major types.
_UNSIGNED, _NEGATIVE, _BYTES, _TEXT, _ARRAY, _MAP, _TAG, _SIMPLE = range(8)
_NUMBER_MAJORS = frozenset({_UNSIGNED, _NEGATIVE, _SIMPLE})

# The tags a record may hold, and the major types of the item each must enclose (a float is
# major type 7; the scan checks it is not a simple value). Any other tag is refused.
_TAG_CONTENT: dict[int, frozenset[int]] = {
    _TAG_DATE_TEXT: frozenset({_TEXT}),
    _TAG_EPOCH: _NUMBER_MAJORS,
    _TAG_BIGNUM: frozenset({_BYTES}),
    _TAG_NEGATIVE_BIGNUM: frozenset({_BYTES}),
    _TAG_URI: frozenset({_TEXT}),
    _TAG_EPOCH_DAYS: _NUMBER_MAJORS,
    _TAG_SET: frozenset({_ARRAY}),
    _TAG_MAP: frozenset({_ARRAY, _MAP}),
    _TAG_DATE_ONLY: frozenset({_TEXT}),
    _TAG_SELF_DESCRIBED: frozenset(range(8)),
}
# Tags a map key may carry: dates and URLs, whose values hash safely.
_KEY_TAGS = frozenset({_TAG_DATE_TEXT, _TAG_EPOCH, _TAG_URI, _TAG_EPOCH_DAYS, _TAG_DATE_ONLY})
_KEY_KINDS = {
    _ARRAY: "an array",
    _MAP: "a map",
    _TAG_BIGNUM: "an integer beyond 64 bits",
    _TAG_NEGATIVE_BIGNUM: "an integer beyond 64 bits",
    _TAG_SET: "a Set",
    _TAG_MAP: "a Map",
}
# A big integer's bytes: enough for every integer under INTEGER_BOUND, and not many more
# (the decoded value is then checked exactly).
_MAX_BIGNUM_BYTES = (INTEGER_BOUND.bit_length() + 7) // 8

# Items that are one byte, and nothing else: integers 0 to 23 and -1 to -24, empty byte
# and text strings, empty arrays and maps, false, true, null and undefined.
_ONE_BYTE_ITEMS = frozenset([*range(0x00, 0x18), *range(0x20, 0x38), 0x40, 0x60, 0x80, 0xA0])
_ONE_BYTE_ITEMS |= frozenset(range(0xF4, 0xF8))
_ONE_BYTE_RUN = re.compile(b"[%s]*" % re.escape(bytes(sorted(_ONE_BYTE_ITEMS))))

# What a frame of the scan's stack holds: the items of an array, the keys and values of a
# map, a tag's one item, or the chunks of a string of indefinite length. A frame is a list:
# [items left (-1: until a break), items seen, kind, the tag's number or the chunks' major
# type, the chunks' length so far].
_ITEMS, _PAIRS, _TAGGED, _CHUNKS = range(4)


def _malformed(why: str) -> Invalid:
    return Invalid(f"malformed CBOR: {why}")


def scan_cbor(data: bytes, limits: DecodeLimits, *, sequence: bool) -> int:
    """Check the CBOR in ``data`` against ``limits`` without decoding it: one item (the
    position where it ends is returned), or, with ``sequence``, items up to the end.
    Raises ``Invalid`` or ``TooLarge`` at the first item that breaks a rule."""
    end = len(data)
    pos = elements = 0
    max_elements, max_members = limits.elements, limits.members
    max_depth, max_length = limits.depth, limits.string_length
    stack: list[list[int]] = []
    while True:
        while stack and stack[-1][0] == 0:
            stack.pop()
        if not stack and (pos == end if sequence else elements):
            return pos
        if pos >= end:
            raise _malformed("the data ends inside an item")
        initial = data[pos]
        frame = stack[-1] if stack else None
        if initial in _ONE_BYTE_ITEMS and frame is not None and frame[2] == _ITEMS:
            # A run of one-byte items in an array (small integers, empty strings and
            # containers, simple values) is counted at once, by a regular expression: an
            # array of a million small numbers is scanned in C, and so is a bomb of empty
            # arrays.
            run = _ONE_BYTE_RUN.match(data, pos)
            taken = run.end() - pos if run else 0
            taken = min(taken, frame[0]) if frame[0] > 0 else taken
            if frame[0] < 0 and frame[1] + taken > max_members:
                raise limits.too_many_members()
            elements += taken
            if elements > max_elements:
                raise limits.too_many_elements()
            pos += taken
            frame[1] += taken
            if frame[0] > 0:
                frame[0] -= taken
            continue
        pos += 1
        major, info = initial >> 5, initial & 0x1F
        if initial == 0xFF:  # "break": the end of an indefinite-length item
            if frame is None or frame[0] != -1:
                raise _malformed("a break outside an indefinite-length item")
            if frame[2] == _PAIRS and frame[1] % 2:
                raise _malformed("a map ends between a key and its value")
            stack.pop()
            continue
        if info < 24:
            argument = info
        elif info < 28:
            size = 1 << (info - 24)
            if pos + size > end:
                raise _malformed("the data ends inside an item")
            argument = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif info == 31 and _BYTES <= major <= _MAP:
            argument = -1
        else:
            raise _malformed(f"reserved additional information {info} in byte {pos - 1}")
        elements += 1
        if elements > max_elements:
            raise limits.too_many_elements()
        if frame is not None:
            if frame[2] == _ITEMS and frame[0] > 0:  # the common case, inline: 2x faster
                frame[0] -= 1
                frame[1] += 1
            else:
                _enter(frame, major, info, argument, limits)
        if major in (_BYTES, _TEXT):
            if argument == -1:
                stack.append([-1, 0, _CHUNKS, major, 0])
            elif argument > max_length and not (frame and frame[2] == _TAGGED):
                raise limits.too_long()  # (a big integer's bytes have a bound of their own)
            elif pos + argument > end:
                raise _malformed("the data ends inside a string")
            else:
                pos += argument
            continue
        if major in (_ARRAY, _MAP):
            if argument > max_members:
                raise limits.too_many_members()
            items = argument * 2 if major == _MAP and argument > 0 else argument
            if items > end - pos:  # every item takes at least a byte
                raise _malformed(f"a container declares {argument} members; fewer bytes follow")
            if not items:
                continue
            stack.append([items, 0, _PAIRS if major == _MAP else _ITEMS, 0, 0])
        elif major == _TAG:
            if argument in _REFERENCE_TAGS:
                raise references_refused(argument)
            if argument not in _TAG_CONTENT:
                raise Invalid(f"unsupported CBOR tag {argument}")
            stack.append([1, 0, _TAGGED, argument, 0])
        else:
            continue
        if len(stack) > max_depth:
            raise limits.too_deep()


def _enter(frame: list[int], major: int, info: int, argument: int, limits: DecodeLimits) -> None:
    """An item starts inside ``frame``: check it is one the frame may hold, and count it."""
    left, seen, kind = frame[0], frame[1], frame[2]
    if kind == _PAIRS and seen % 2 == 0:
        _check_key(major, argument)
    elif kind == _TAGGED:
        _check_tagged(frame[3], major, info, argument)
    elif kind == _CHUNKS:
        if major != frame[3] or argument == -1:
            raise _malformed("a chunk of an indefinite-length string is not a string of its type")
        frame[4] += argument
        if frame[4] > limits.string_length:
            raise limits.too_long()
    frame[1] = seen + 1
    if left > 0:
        frame[0] = left - 1
    elif kind != _CHUNKS and seen // (2 if kind == _PAIRS else 1) >= limits.members:
        raise limits.too_many_members()  # an indefinite-length container grew too long


def _check_key(major: int, argument: int) -> None:
    """A map key must hash safely: no containers, no big integers."""
    if major in (_ARRAY, _MAP):
        raise bad_key(_KEY_KINDS[major])
    if major == _TAG and argument not in _KEY_TAGS:
        if argument in _REFERENCE_TAGS:
            raise references_refused(argument)
        raise bad_key(_KEY_KINDS.get(argument, f"a value with CBOR tag {argument}"))


def _check_tagged(tag: int, major: int, info: int, argument: int) -> None:
    """The item a tag encloses must be of a kind the tag takes."""
    expected = _TAG_CONTENT.get(tag, frozenset())
    if major not in expected or (major == _SIMPLE and tag != _TAG_SELF_DESCRIBED and info < 25):
        raise _malformed(f"tag {tag} cannot hold an item of major type {major}")
    if tag in (_TAG_BIGNUM, _TAG_NEGATIVE_BIGNUM):
        if argument == -1:
            raise _malformed(f"the bytes of a big integer (tag {tag}) come in chunks")
        if argument > _MAX_BIGNUM_BYTES:
            raise integer_too_large()


# --- the storage format ----------------------------------------------------------------------


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


# Types cbor2 encodes as they are (exactly these: a JSURL is a str, and not one of them).
_AS_THEY_ARE = frozenset({str, int, float, bool, bytes, type(None)})


def _prepare(value: Any, depth: int) -> Any:
    """Replace the types cbor2 would encode in a way we do not want (URLs, sets)."""
    if depth > MAX_DEPTH:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
    if type(value) in _AS_THEY_ARE:  # most of a value: one lookup instead of six tests
        return value
    deeper = depth + 1
    kind = type(value)
    if (kind is dict or kind is list) and deeper <= MAX_DEPTH and _flat(value):
        return value  # nothing in it to replace: cbor2 encodes it as it is, uncopied
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


def _flat(container: dict[Any, Any] | list[Any]) -> bool:
    """Whether every key and member is of ``_AS_THEY_ARE`` (the types looked up in C)."""
    if type(container) is dict and not _AS_THEY_ARE.issuperset(map(type, container)):
        return False
    members = container.values() if type(container) is dict else container
    return _AS_THEY_ARE.issuperset(map(type, members))


def _set_from_cbor(value: Any, _immutable: bool) -> JSSet:
    return JSSet(value)


def _map_from_cbor(value: Any, _immutable: bool) -> JSMap:
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return JSMap((k, v) for k, v in value)
    if isinstance(value, dict):
        return JSMap(value.items())
    raise Invalid("CBOR tag 259 (Map) must hold a map or a list of pairs")


def _epoch_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid("CBOR tag 1 (epoch date) must hold a finite number")
    return round(value * 1000, 3)


def _date_from_cbor(value: Any, _immutable: bool) -> JSDate:
    return JSDate(_epoch_seconds(value))


def _client_date_from_cbor(value: Any, _immutable: bool) -> JSDate:
    # Checked here, before the date can become a map key: out of range, its hash could be
    # chosen to collide with others.
    return js_date(_epoch_seconds(value))


def _url_from_cbor(value: Any, _immutable: bool) -> JSURL:
    if not isinstance(value, str):
        raise Invalid("CBOR tag 32 (URI) must hold a string")
    return JSURL(value)


def _references(value: Any, _immutable: bool) -> Any:
    raise Invalid("CBOR value sharing and string references are not accepted")


def _unknown_tag(tag: Any, _immutable: bool) -> Any:
    raise Invalid(f"unsupported CBOR tag {tag.tag}")


_SEMANTIC = {
    _TAG_EPOCH: _date_from_cbor,
    _TAG_URI: _url_from_cbor,
    _TAG_SET: _set_from_cbor,
    _TAG_MAP: _map_from_cbor,
    # cbor2 resolves these itself, never asking tag_hook: overridden, they fail before any
    # reference is looked up (the override gets the tag's content, an index).
    **dict.fromkeys(_REFERENCE_TAGS, _references),
}
_CLIENT_SEMANTIC = {**_SEMANTIC, _TAG_EPOCH: _client_date_from_cbor}


def decode_record(raw: bytes, limits: DecodeLimits) -> Any:
    """One CBOR item from a client, as a record value within ``limits``. Trailing bytes,
    and types a record cannot hold (UUIDs, decimals, regular expressions, ...), are
    refused."""
    if scan_cbor(raw, limits, sequence=False) < len(raw):
        raise _malformed("bytes left over after the first item")
    value = _decode_one(_decoder(io.BytesIO(raw), _CLIENT_SEMANTIC, limits.depth))
    check_value(value, limits)
    return value


def decode_sequence(raw: bytes, limits: DecodeLimits) -> Iterator[Any]:
    """A CBOR sequence from a client (RFC 8742: items one after another) as record values,
    all within one body's ``limits``."""
    scan_cbor(raw, limits, sequence=True)
    stream = io.BytesIO(raw)
    decoder = _decoder(stream, _CLIENT_SEMANTIC, limits.depth)
    while stream.tell() < len(raw):
        value = _decode_one(decoder)
        check_value(value, limits)
        yield value


def read_stored(raw: bytes) -> Any:
    """A record value from the canonical CBOR ``encode_record`` wrote (not scanned: these
    bytes passed every check when they were written)."""
    return _decode_one(_decoder(io.BytesIO(raw), _SEMANTIC, MAX_DEPTH))


def _decoder(stream: io.BytesIO, semantic: dict[int, Any], depth: int) -> cbor2.CBORDecoder:
    return cbor2.CBORDecoder(
        stream,
        semantic_decoders=semantic,
        tag_hook=_unknown_tag,
        max_depth=depth,
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
        raise _malformed(str(exc)) from None
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
        rendered = render_json(read_stored(cbor))
        with self._lock:
            if digest not in self._rendered:
                self._rendered[digest] = rendered
                self._bytes += len(rendered)
                while self._bytes > self._max_bytes:
                    _, dropped = self._rendered.popitem(last=False)
                    self._bytes -= len(dropped)
        return rendered
