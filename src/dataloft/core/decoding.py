"""Limits on decoding what clients send: one set, which every decoder enforces *while* it
decodes (JSON, CBOR, MessagePack, YAML, HTML forms and multipart bodies; the zip and tar
readers to come import it too), so that a small body cannot turn into a large value, and
nothing decoded can break a later read of it.

Why each limit, and how a refusal looks (400 for a value the server cannot hold, 413 for
one over a size limit; each message names the limit):

- **elements**, per body: every value, map key and string chunk counts (in YAML, every
  parser event counts two: see ``api/pigeon/yaml_format.py``). A decoded element costs 50
  to 100 bytes of Python objects however small it is on the wire: an empty CBOR array is
  1 byte and a 64-byte list, so 5 MB of empty MessagePack arrays took 1.1 GB and 9 s
  before this limit (measured). The default fits a bulk write of 100,000 records of nine
  fields each (YAML, half as many). 413.
- **members**, per array, map or set. 413.
- **depth**, counted as the value nests once written as JSON, where a Set is an object
  holding an array and a Map an object holding an array of pairs: every reader and writer
  of a value recurses, and MessagePack's writer gives up at 511 levels, so a limit on the
  wire format's own nesting (a Map is one level of CBOR) would let in values that cannot
  be read back as MessagePack. 400.
- **string length**, characters of a text string or bytes of a byte string. 413.
- **integers** have at most ``MAX_INTEGER_DIGITS`` (4,300) decimal digits: CPython's
  ``str(int)`` refuses longer ones, so a longer integer would be stored, and then break
  every JSON read and export of it. Not a setting: raising it would break reads. 400.
- **dates** lie within JavaScript's range (``MAX_DATE_MS``), which every encoder of a
  Date can write. 400.
- **map keys** are strings, byte strings, numbers, booleans, null, dates or URLs; never
  arrays, maps or sets (Python cannot hash them) nor integers beyond 64 bits: Python
  hashes an integer modulo 2**61 - 1, so a client can choose big integers whose hashes
  collide, and building a map of n colliding keys costs n**2 / 2 comparisons (minutes for
  100,000 of them). A Map (CBOR tag 259, ``{"type": "Map"}``) holds keys of any kind. 400.
- **references**: CBOR's value sharing (tags 28 and 29) and string references (tags 25
  and 256) are refused before any decoder resolves them. A 600-byte body of shared values
  stands for a value of 2**60 strings: walking it took the server 47 s to fill the 4 GB
  its test allowed it, and then a 500. YAML aliases likewise.

How each decoder keeps to them while it decodes: binary formats are scanned first, item
header by item header, without building a value (``core/cbor.py``, the MessagePack
scanner in ``api/pigeon/msgpack_format.py``), and only then decoded by their C decoders,
which can build nothing the scan did not allow; JSON is counted with C string operations
before ``json.loads`` (``scan_json``); a YAML stream's parser events are counted before
any value is built from them. ``dataloft.core.values.check_value`` then walks the decoded
value once for what only the value shows (depth as JSON, members, lengths, integers).
"""

from __future__ import annotations

import json
import operator
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, count
from typing import Any

from dataloft.core.errors import Invalid, TooLarge

# The deepest any value may nest, in every part of the server: decoders refuse deeper
# values, and the writers (JSON, CBOR, MessagePack, YAML) check it as they recurse.
MAX_DEPTH = 200
# CPython's default bound for converting an int to decimal text (gh-95778, against
# quadratic conversions): the JSON writer of every read calls str() on each integer.
MAX_INTEGER_DIGITS = sys.int_info.default_max_str_digits
INTEGER_BOUND = 10**MAX_INTEGER_DIGITS
# A JavaScript Date holds at most 100,000,000 days either side of the epoch (ECMA-262
# 21.4.1.1): the range every Date reader of Pigeon Optics clients can take.
MAX_DATE_MS = 8_640_000_000_000_000

DEFAULT_ELEMENTS = 2_000_000
DEFAULT_MEMBERS = 1_000_000
DEFAULT_STRING_LENGTH = 20 * 1024 * 1024


@dataclass(frozen=True)
class DecodeLimits:
    """The limits of one decoder run (a body, a header, a cursor). The server's come from
    its settings (``Settings.decode_limits``); each refusal is made here, so that every
    decoder words it alike."""

    depth: int = MAX_DEPTH
    elements: int = DEFAULT_ELEMENTS
    members: int = DEFAULT_MEMBERS
    string_length: int = DEFAULT_STRING_LENGTH

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
        if min(self.elements, self.members, self.string_length) < 1:
            raise ValueError("decoding limits must be at least 1")

    def too_deep(self) -> Invalid:
        return Invalid(f"value nested deeper than {self.depth} levels")

    def too_many_elements(self) -> TooLarge:
        return TooLarge(f"the body holds more than {self.elements} elements (values and keys)")

    def too_many_members(self) -> TooLarge:
        return TooLarge(f"an array, map or set holds more than {self.members} members")

    def too_long(self) -> TooLarge:
        return TooLarge(f"a string is longer than {self.string_length} characters or bytes")


def integer_too_large() -> Invalid:
    return Invalid(f"integers may have at most {MAX_INTEGER_DIGITS} decimal digits")


def check_integer(value: int) -> int:
    if not -INTEGER_BOUND < value < INTEGER_BOUND:
        raise integer_too_large()
    return value


def references_refused(tag: int) -> Invalid:
    kind = "value sharing" if tag in (28, 29) else "string references"
    return Invalid(f"CBOR tag {tag} ({kind}) is not accepted: send each value in full")


def bad_key(kind: str) -> Invalid:
    return Invalid(
        f"a map key cannot be {kind}: keys are strings, byte strings, numbers within 64 "
        "bits, booleans, null, dates or URLs (a Map holds keys of any kind)"
    )


# --- JSON ------------------------------------------------------------------------------------

# A JSON string, escapes included (the unrolled form: linear, no backtracking).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_LONG_NUMBER = re.compile(rb"[0-9]{%d}" % (MAX_INTEGER_DIGITS + 1))
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# Openers become 2 and closers 0: the running sum less the count of brackets seen is then
# the depth after each bracket (opened - closed).
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def scan_json(raw: bytes, limits: DecodeLimits, documents: int = 1) -> None:
    """Check JSON text (``documents`` values, one per line for JSON Lines) against
    ``limits`` before ``json.loads`` builds anything: elements, depth and number lengths.

    All in C: strings are cut out (brackets and commas inside them are text), and what is
    left is counted: each value or key follows a ``[``, ``{``, ``,`` or ``:``, or starts a
    document. A pure-Python tokenizer took 1.8 s for 20 MB of small records, this 0.5 s
    (json.loads itself 0.7 s). On text that is not JSON the counts may be off, but then
    json.loads refuses it anyway, having built no more than the counts allowed."""
    bare = _outside_strings(raw)
    opened = bare.count(b"[") + bare.count(b"{")
    if documents + opened + bare.count(b",") + bare.count(b":") > limits.elements:
        raise limits.too_many_elements()
    if _LONG_NUMBER.search(bare):
        raise integer_too_large()
    steps = bare.translate(None, _NOT_BRACKETS).translate(_BRACKET_STEPS)
    deepest = max(map(operator.sub, accumulate(steps), count(1)), default=0)
    if deepest > limits.depth:
        raise limits.too_deep()


def _outside_strings(raw: bytes) -> bytes:
    """``raw`` without its JSON strings. A quote that no backslash precedes is never
    escaped, so in text without ``\\"`` every quote opens or closes a string, and the pieces
    between quotes alternate outside and inside one: splitting there is C's work, 8 ms for
    the 2 MB of a bulk write of 10,000 records against the expression's 20 ms."""
    if b'\\"' in raw:
        return _JSON_STRING.sub(b"", raw)
    return b"".join(raw.split(b'"')[::2])


def _reject_constant(name: str) -> Any:
    raise Invalid(f"malformed JSON: {name} is not a JSON value")


def loads_json(raw: bytes, object_hook: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """``json.loads`` of UTF-8 text that ``scan_json`` has passed, its errors made
    ``Invalid``. NaN and Infinity, which are not JSON, are refused."""
    try:
        return json.loads(
            raw.decode("utf-8"), object_hook=object_hook, parse_constant=_reject_constant
        )
    except UnicodeDecodeError:
        raise Invalid("JSON body is not valid UTF-8") from None
    except ValueError as error:
        raise Invalid(f"malformed JSON: {error}") from None
