"""Attachment links inside Pigeon Optics record values: ``hash://sha256/<hex>?type=...``
strings, found anywhere in a value and normalised the way the clients normalise them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

from dataloft.core.values import JSMap, JSSet

# A whole string that names an attachment: hash://sha256/<hex>?<query> (the query, usually
# ``type=<media type>``, is required, as in the original).
HASH_URL = re.compile(r"hash://sha256/([a-f0-9]{64})\?([^#?]*)", re.IGNORECASE)


def normalise_link(text: str) -> tuple[str, str] | None:
    """``(digest, normalised URL)`` when ``text`` is a hash URL, else None. The query is
    rewritten the way a Pigeon Optics client's ``URLSearchParams`` rewrites it, so that
    both sides compute the same link for the same attachment."""
    match = HASH_URL.fullmatch(text)
    if match is None:
        return None
    digest = match.group(1).lower()
    query = _serialise_query(_parse_query(match.group(2)))
    return digest, f"hash://sha256/{digest}?{query}"


# The WHATWG URL standard's application/x-www-form-urlencoded parser and serializer, which
# URLSearchParams uses. Python's parse_qsl/urlencode differ from them in details that
# change the text (urlencode leaves '~' bare and escapes '*'), and clients compare the
# normalised text, so both halves are spelled out here.

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The bytes the serializer writes as themselves; every other byte but space is %XX.
_FORM_SAFE = frozenset(b"*-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _parse_query(query: str) -> list[tuple[str, str]]:
    """The name/value pairs of a query (without its '?'), as ``URLSearchParams`` reads them."""
    # A JavaScript string reaches URLSearchParams as a USVString: unpaired surrogates
    # (which JSON text can carry) become U+FFFD before anything is encoded.
    query = _LONE_SURROGATE.sub("\ufffd", query)
    pairs: list[tuple[str, str]] = []
    for piece in query.split("&"):
        if not piece:  # "a=1&&b=2" and a trailing '&' add no pair
            continue
        name, _, value = piece.partition("=")  # at the first '='; no '=' means value ""
        pairs.append((_form_decode(name), _form_decode(value)))
    return pairs


def _form_decode(text: str) -> str:
    # '+' is a space only as written, so it is replaced before percent-decoding ("%2B"
    # stays a plus sign). unquote_to_bytes, like the standard's percent-decode, turns each
    # '%' and two hex digits into that byte and keeps any other '%' as it is; bytes that
    # are not UTF-8 become U+FFFD, as the standard decodes them, rather than an error.
    return unquote_to_bytes(text.replace("+", " ")).decode("utf-8", errors="replace")


def _serialise_query(pairs: list[tuple[str, str]]) -> str:
    """``URLSearchParams.toString()``: ``name=value`` pairs joined by '&', the '=' always
    written, even for an empty value."""
    return "&".join(f"{_form_encode(name)}={_form_encode(value)}" for name, value in pairs)


def _form_encode(text: str) -> str:
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _FORM_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def hash_links(value: Any, encoded: bytes | None = None) -> dict[str, str]:
    """Every hash URL found as a whole string anywhere in ``value`` (object keys and
    values, array items, Set members, Map keys and values): normalised URL -> digest, in
    the order found. ``encoded``, the value's canonical CBOR if the caller has it, saves
    the walk for most values: CBOR holds every string of the value as its UTF-8 bytes, so
    a value whose encoding has no ``://`` has no link (a fifth of planning a bulk write
    went to walking values for links they did not hold)."""
    found: dict[str, str] = {}
    if encoded is not None and b"://" not in encoded:
        return found
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            link = normalise_link(item)
            if link is not None:
                found.setdefault(link[1], link[0])
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                stack.extend((child, key))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, JSSet):
            stack.extend(reversed(item.items))
        elif isinstance(item, JSMap):
            for key, child in reversed(item.pairs):
                stack.extend((child, key))
    return found
