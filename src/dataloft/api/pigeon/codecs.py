"""Pigeon Optics' content negotiation: record values in and out as JSON (with the
``{type, data}`` tags), CBOR and JSON Lines; HTML for browsers.

A request body is decoded by its ``Content-Type``; a response is encoded by the type the
``Accept`` header prefers. Clients that prefer ``text/html``, or ask for nothing in
particular (no header, ``*/*``), are browsers to this system and get HTML.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from dataloft.core.errors import Invalid
from dataloft.core.values import (
    decode_record,
    decode_sequence,
    encode_record,
    parse_json,
    render_json,
)


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


# The types a browser's Accept stands for: the HTML UI. A wildcard counts as HTML because
# an API client names the codec it wants, and a client that would take anything is a
# browser to this system.
_HTML_TYPES = frozenset({HTML_TYPE, "text/*", "*/*"})


def negotiate(accept: str | None) -> Codec | None:
    """The codec of the most preferred type in ``Accept``, or None for HTML: the best is
    the highest q-value among the API types and HTML (``text/html``, ``text/*``, ``*/*``),
    the earlier-listed type on a tie. No ``Accept``, or one naming neither, means HTML."""
    best: tuple[float, Codec | None] | None = None  # (q-value, codec; None is HTML)
    for part in (accept or "").split(","):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        media_type = media_type.lower()
        if media_type in _HTML_TYPES:
            codec = None
        elif media_type in _BY_TYPE:
            codec = _BY_TYPE[media_type]
        else:
            continue
        quality = _quality(params)
        # Strictly greater: on a tie the type listed first keeps its place.
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, codec)
    return None if best is None else best[1]


def _quality(params: list[str]) -> float:
    """The ``q`` parameter (1 when absent); a malformed one is 0, not acceptable."""
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return 0.0
            # NaN fails this test too; without it a "q=nan" type could never be beaten.
            return quality if 0 <= quality <= 1 else 0.0
    return 1.0


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


def _render_json(value: Any) -> bytes:
    # Pigeon Optics clients are JavaScript, whose JSON.parse reads numbers as doubles:
    # integers too big for one to hold exactly travel as BigInteger tags instead, the
    # tag the original writes for its BigInts.
    return render_json(value, exact_integers=True)


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
