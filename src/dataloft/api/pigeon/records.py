"""Pigeon Optics record bodies: bulk shapes, and the attachment links inside values."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from dataloft.api.pigeon.codecs import CBOR, JSON, Codec, decode_items
from dataloft.core.errors import Invalid
from dataloft.core.values import UNDEFINED, JSMap, JSSet, parse_json

# A whole string that names an attachment: hash://sha256/<hex>?<query> (the query, usually
# ``type=<media type>``, is required, as in the original).
HASH_URL = re.compile(r"hash://sha256/([a-f0-9]{64})\?([^#?]*)", re.IGNORECASE)


def normalise_link(text: str) -> tuple[str, str] | None:
    """``(digest, normalised URL)`` when ``text`` is a hash URL, else None."""
    match = HASH_URL.fullmatch(text)
    if match is None:
        return None
    digest = match.group(1).lower()
    query = urlencode(parse_qsl(match.group(2), keep_blank_values=True))
    return digest, f"hash://sha256/{digest}?{query}"


def hash_links(value: Any) -> dict[str, str]:
    """Every hash URL found as a whole string anywhere in ``value`` (object keys and
    values, array items, Set members, Map keys and values): normalised URL -> digest, in
    the order found."""
    found: dict[str, str] = {}
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


def bulk_entries(raw: bytes, codec: Codec) -> list[tuple[str, Any]]:
    """``(record id, value)`` pairs from a bulk body: an object map, an array (JSON) or a
    sequence (JSON Lines, CBOR) of ``[id, value]`` pairs or ``{"id", "data"}`` objects."""
    items: list[Any]
    if codec is JSON:
        body = parse_json(raw)
        if isinstance(body, dict):
            return list(body.items())
        if not isinstance(body, list):
            raise Invalid("a bulk body is an object of records, or a list of entries")
        items = body
    else:
        items = list(decode_items(raw, codec))
        if codec is CBOR and len(items) == 1 and isinstance(items[0], dict):
            return [(_record_id(k), v) for k, v in items[0].items()]
    return [_entry(item, index) for index, item in enumerate(items)]


def _entry(item: Any, index: int) -> tuple[str, Any]:
    if isinstance(item, list) and len(item) == 2:
        return _record_id(item[0]), item[1]
    if isinstance(item, dict) and set(item) == {"id", "data"}:
        return _record_id(item["id"]), item["data"]
    raise Invalid(
        f"entry {index} must be an [id, value] pair or an object with exactly 'id' and 'data'"
    )


def _record_id(key: Any) -> str:
    if not isinstance(key, str):
        raise Invalid(f"record ids are strings, not {type(key).__name__}")
    return key


def is_deletion(value: Any) -> bool:
    """In a merge, ``null`` and ``undefined`` delete the record."""
    return value is None or value is UNDEFINED
