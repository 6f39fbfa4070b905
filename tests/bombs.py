"""Decoder bombs: small bodies that stand for large values, or that make a decoder recurse,
allocate or compare far more than their size, or that decode to values a later read could
not write back. Written byte by byte where an encoder would refuse to write them.
Each is a function, so that a test builds only the bombs it sends.

``tests/functional/test_decoder_bombs.py`` sends them to the native API and Algorithmia,
``tests/dialects/pigeon/test_decoder_bombs.py`` to Pigeon Optics, in every encoding."""

from __future__ import annotations

import json
import struct

# Python hashes an integer modulo this prime: its multiples all hash alike. Past 2**64
# (from 9 * P on) they are big integers in every encoding.
P = 2**61 - 1
# Past the default limits (the suite's): more elements than a body may hold (2,000,000), in
# containers that each hold fewer members than a container may (1,000,000).
GROUPS, PER_GROUP = 3, 700_000
# One digit more than any integer may have (4,300), spelled out: Python's str() refuses it.
TOO_MANY_DIGITS = "9" * 5000


# --- CBOR --------------------------------------------------------------------------------------


def cbor_head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 256**size:
            return bytes([major << 5 | info]) + argument.to_bytes(size, "big")
    raise ValueError(argument)


def cbor_tag(tag: int, item: bytes) -> bytes:
    return cbor_head(6, tag) + item


def cbor_shared_values(levels: int = 60) -> bytes:
    """An array of shared values (tag 28), each an array of two references (tag 29) to the
    one before: 600 bytes standing for 2**60 strings."""
    items = [cbor_tag(28, cbor_head(3, 10) + b"x" * 10)]
    for level in range(1, levels + 1):
        ref = cbor_tag(29, cbor_head(0, level - 1))
        items.append(cbor_tag(28, cbor_head(4, 2) + ref + ref))
    return cbor_head(4, len(items)) + b"".join(items)


def cbor_self_reference() -> bytes:
    """A shared array holding a reference to itself."""
    return cbor_tag(28, cbor_head(4, 1) + cbor_tag(29, cbor_head(0, 0)))


def cbor_string_references(count: int = 100_000) -> bytes:
    """A string of 1,000 characters, then ``count`` references to it (tag 25, in a tag 256
    namespace): 300 KB standing for 100 MB."""
    items = cbor_head(3, 1000) + b"y" * 1000 + cbor_tag(25, cbor_head(0, 0)) * count
    return cbor_tag(256, cbor_head(4, count + 1) + items)


def cbor_array_key() -> bytes:
    """A map whose key is an array, which Python cannot hash: ``{[1]: 2}``."""
    return cbor_head(5, 1) + cbor_head(4, 1) + cbor_head(0, 1) + cbor_head(0, 2)


def cbor_colliding_keys(count: int = 50_000) -> bytes:
    """A map of big integers whose hashes all collide: building it costs count**2 / 2
    comparisons."""
    keys = (
        cbor_tag(2, cbor_head(2, 10) + (k * P).to_bytes(10, "big")) for k in range(9, 9 + count)
    )
    return cbor_head(5, count) + b"".join(key + cbor_head(0, 1) for key in keys)


def cbor_deep() -> bytes:
    return b"\x81" * 100_000 + b"\x80"


def cbor_big_integer() -> bytes:
    """A bignum (tag 2) of 2,000 bytes: 4,817 digits, which no JSON read could write."""
    return cbor_tag(2, cbor_head(2, 2000) + b"\xff" * 2000)


def cbor_declared_length() -> bytes:
    """An array that says it holds 2**40 items, and holds none."""
    return cbor_head(4, 2**40)


def cbor_many_elements() -> bytes:
    """2.1 million empty arrays, one byte each: 2 MB that were 130 MB of lists."""
    group = cbor_head(4, PER_GROUP) + b"\x80" * PER_GROUP
    return cbor_head(4, GROUPS) + group * GROUPS


# --- MessagePack -------------------------------------------------------------------------------


def msgpack_nested_sets(depth: int = 3000) -> bytes:
    """A Set (extension 72) holding a Set holding a Set ..., 3,000 deep."""
    packed = b"\x90"
    for _ in range(depth):
        inner = b"\x91" + packed
        packed = b"\xc9" + struct.pack(">I", len(inner)) + b"\x48" + inner
    return packed


def msgpack_declared_length() -> bytes:
    """An array that says it holds 50 million items, and holds ten."""
    return b"\xdd" + struct.pack(">I", 50_000_000) + b"\xc0" * 10


def msgpack_many_elements() -> bytes:
    group = b"\xdd" + struct.pack(">I", PER_GROUP) + b"\x90" * PER_GROUP
    return bytes([0x90 | GROUPS]) + group * GROUPS


def msgpack_array_key() -> bytes:
    return b"\x81\x91\x01\x02"


def msgpack_big_integer() -> bytes:
    """A BigInteger tag of 5,000 digits."""
    data = TOO_MANY_DIGITS.encode()
    return b"\x82\xa4type\xaaBigInteger\xa4data\xda" + struct.pack(">H", len(data)) + data


# --- JSON --------------------------------------------------------------------------------------


def json_deep(levels: int = 100_000) -> bytes:
    return b"[" * levels + b"]" * levels


def json_many_elements() -> bytes:
    group = b"[" + b",".join([b"[]"] * PER_GROUP) + b"]"
    return b"[" + b",".join([group] * GROUPS) + b"]"


def json_lines_many_elements() -> bytes:
    return b"[]\n" * (GROUPS * PER_GROUP // 2)


def json_big_number() -> bytes:
    return f"[{TOO_MANY_DIGITS}]".encode()


def json_big_integer_tag() -> bytes:
    return json.dumps({"type": "BigInteger", "data": TOO_MANY_DIGITS}).encode()


def json_far_date() -> bytes:
    """A Date of 400 digits of milliseconds: its conversion to a float overflowed."""
    return b'{"type": "Date", "data": ' + b"9" * 400 + b"}"


def json_colliding_set(count: int = 20_000) -> bytes:
    """A Set of big integers whose hashes all collide: deduplicating it took count**2 / 2
    comparisons. A value a record may hold: it must be stored, and quickly."""
    members = [{"type": "BigInteger", "data": str(k * P)} for k in range(9, 9 + count)]
    return json.dumps({"type": "Set", "data": members}).encode()


# --- YAML --------------------------------------------------------------------------------------


def yaml_aliases() -> bytes:
    """The billion laughs: each alias doubles the value."""
    lines = ["a0: &a0 [lol, lol]"]
    lines += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}]" for n in range(1, 40)]
    return "\n".join(lines).encode()


def yaml_deep() -> bytes:
    return b"- " * 100_000 + b"x\n"


def yaml_many_elements() -> bytes:
    """600,000 empty flow sequences: 1.8 MB that PyYAML's loader took seconds and 400 MB
    to build its node tree of."""
    return b"[" + b",".join([b"[]"] * 600_000) + b"]"


def yaml_big_integer() -> bytes:
    return f"n: {TOO_MANY_DIGITS}\n".encode()


def yaml_big_hex_integer() -> bytes:
    """4,000 hexadecimal digits: int() reads them without complaint, but no JSON read
    could write the number."""
    return f"n: 0x{'f' * 4000}\n".encode()


def yaml_colliding_keys(count: int = 20_000) -> bytes:
    return "".join(f"{k * P}: 1\n" for k in range(9, 9 + count)).encode()


# --- forms -------------------------------------------------------------------------------------


def form_many_fields() -> bytes:
    """2.1 million empty fields of an HTML form."""
    return b"a=&" * (GROUPS * PER_GROUP)


def multipart_many_parts(boundary: str, count: int = 1001) -> bytes:
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\n1\r\n'.encode()
    return part * count + f"--{boundary}--\r\n".encode()


def multipart_many_headers(boundary: str, count: int = 1000) -> bytes:
    headers = "".join(f"X-Header-{n}: {n}\r\n" for n in range(count))
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="body"\r\n{headers}\r\n'
        f'{{"a": 1}}\r\n--{boundary}--\r\n'
    ).encode()
