"""Pigeon Optics' content negotiation: record values in and out as JSON (with the
``{type, data}`` tags), CBOR and JSON Lines; HTML for browsers.

A request body is decoded by its ``Content-Type``; a response is encoded by the best API
type the ``Accept`` header asks for. Clients that ask for nothing in particular (browsers,
``*/*``) are browsers to this system and get HTML.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from dataloft.core.errors import Invalid
from dataloft.core.values import decode_record, decode_sequence, encode_record, parse_json
from dataloft.core.values import render_json as _render_json


@dataclass(frozen=True)
class Codec:
    name: str
    media_types: tuple[str, ...]
    extensions: tuple[str, ...]

    @property
    def media_type(self) -> str:
        return self.media_types[0]


JSON = Codec("json", ("application/json", "text/json", "application/feed+json"), ("json",))
CBOR = Codec("cbor", ("application/cbor", "application/x-cbor"), ("cbor",))
JSON_LINES = Codec(
    "jsonl",
    (
        "application/x-ndjson",
        "application/ndjson",
        "text/ndjson",
        "text/x-ndjson",
        "application/jsonlines",
        "text/jsonlines",
        "application/x-jsonlines",
        "text/x-jsonlines",
        "application/json-lines",
        "application/nljson",
    ),
    ("jsonl", "ndjson"),
)
CODECS = (JSON, CBOR, JSON_LINES)
_BY_TYPE = {media_type: codec for codec in CODECS for media_type in codec.media_types}
_BY_EXTENSION = {ext: codec for codec in CODECS for ext in codec.extensions}
HTML_TYPE = "text/html"


def media_type_of(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def codec_for_body(content_type: str | None) -> Codec:
    found = _BY_TYPE.get(media_type_of(content_type))
    if found is None:
        raise Invalid(
            f"unsupported Content-Type {media_type_of(content_type)!r}: send JSON, CBOR or "
            "JSON Lines"
        )
    return found


def codec_for_extension(extension: str) -> Codec | None:
    return _BY_EXTENSION.get(extension.lower())


def negotiate(accept: str | None) -> Codec | None:
    """The codec of the most preferred API type in ``Accept``; None means HTML. A type
    list with only wildcards or ``text/html`` is a browser's."""
    best: tuple[float, int, Codec] | None = None
    for position, part in enumerate((accept or "").split(",")):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        codec = _BY_TYPE.get(media_type.lower())
        if codec is None or quality <= 0:
            continue
        rank = (quality, -position, codec)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return None if best is None else best[2]


# --- decoding --------------------------------------------------------------------------------


def decode_value(raw: bytes, codec: Codec) -> Any:
    """One value."""
    if codec is CBOR:
        return decode_record(raw)
    if codec is JSON_LINES:
        items = list(decode_items(raw, codec))
        if len(items) != 1:
            raise Invalid(f"expected one JSON Lines item, found {len(items)}")
        return items[0]
    return parse_json(raw)


def decode_items(raw: bytes, codec: Codec) -> Iterator[Any]:
    """A sequence of values: JSON Lines or a CBOR sequence."""
    if codec is CBOR:
        yield from decode_sequence(raw)
        return
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.strip():
            try:
                yield parse_json(line)
            except Invalid as error:
                raise Invalid(f"line {number}: {error.message}") from None


# --- encoding --------------------------------------------------------------------------------


def encode_value(value: Any, codec: Codec) -> bytes:
    if codec is CBOR:
        return encode_record(value)
    return _render_json(value) + (b"\n" if codec is JSON_LINES else b"")


def encode_stream(values: Iterable[Any], codec: Codec) -> Iterator[bytes]:
    """A list, streamed: a JSON array, one JSON value per line, or a CBOR sequence."""
    if codec is JSON:
        yield b"["
        for index, value in enumerate(values):
            yield (b",\n" if index else b"\n") + _render_json(value)
        yield b"\n]\n"
        return
    for value in values:
        yield encode_value(value, codec)


def html_page(title: str, value: Any) -> bytes:
    """What a browser gets: the data, readable. (The web UI will serve richer pages.)"""
    body = json.dumps(json.loads(_render_json(value)), indent=2, ensure_ascii=False)
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<pre>{html.escape(body)}</pre></body></html>"
    ).encode()
