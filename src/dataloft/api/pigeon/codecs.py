"""Pigeon Optics' content negotiation: record values in and out as JSON (with the
``{type, data}`` tags), CBOR, JSON Lines, YAML and MessagePack; HTML for browsers.

A request body is decoded by its ``Content-Type``; a response is encoded by the type the
``Accept`` header prefers. Clients that prefer ``text/html``, or ask for nothing in
particular (no header, ``*/*``), are browsers to this system and get HTML.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from dataloft.api.pigeon import msgpack_format, yaml_format
from dataloft.api.qvalues import weighted
from dataloft.core.cbor import decode_record, decode_sequence, encode_record
from dataloft.core.decoding import DecodeLimits
from dataloft.core.errors import Invalid
from dataloft.core.values import parse_json, parse_json_lines, render_json, render_plain_json

Framing = Literal["document", "sequence", "documents"]


@dataclass(frozen=True)
class Codec:
    """One encoding, with how it reads and writes a value and a stream of values.

    ``framing`` says how a bulk body is laid out: one document holding the object map or
    the list of entries (JSON); a sequence of entries (JSON Lines, CBOR, MessagePack); or
    YAML's documents, where one document is read like JSON's and several like a sequence.
    Readers take the limits of one body (``dataloft.core.decoding``)."""

    name: str
    media_types: tuple[str, ...]
    extensions: tuple[str, ...]
    load: Callable[[bytes, DecodeLimits], Any]
    load_all: Callable[[bytes, DecodeLimits], Iterator[Any]]
    dump: Callable[[Any], bytes]
    dump_item: Callable[[Any], bytes]  # one value as an item of a stream
    framing: Framing = "sequence"
    # A stream's bytes around and between its items (JSON's array brackets and commas).
    opening: bytes = b""
    separator: bytes = b""
    closing: bytes = b""

    @property
    def media_type(self) -> str:
        return self.media_types[0]


def _json_text(value: Any) -> bytes:
    # Pigeon Optics clients are JavaScript, whose JSON.parse reads numbers as doubles:
    # integers too big for one to hold exactly travel as BigInteger tags instead, the
    # tag the original writes for its BigInts.
    return render_json(value, exact_integers=True)


Loader = Callable[[bytes, DecodeLimits], Iterator[Any]]


def _exactly_one(load_all: Loader, what: str) -> Callable[[bytes, DecodeLimits], Any]:
    """A reader of one value, for a stream format: the stream must hold exactly one."""

    def load(raw: bytes, limits: DecodeLimits) -> Any:
        items = list(load_all(raw, limits))
        if len(items) != 1:
            raise Invalid(f"expected one {what}, found {len(items)}")
        return items[0]

    return load


def _one_json_document(raw: bytes, limits: DecodeLimits) -> Iterator[Any]:
    yield parse_json(raw, limits)


JSON = Codec(
    "json",
    ("application/json", "text/json", "application/feed+json"),
    ("json",),
    load=parse_json,
    load_all=_one_json_document,
    dump=_json_text,
    dump_item=_json_text,
    framing="document",
    opening=b"[\n",
    separator=b",\n",
    closing=b"\n]\n",
)
CBOR = Codec(
    "cbor",
    ("application/cbor", "application/x-cbor"),
    ("cbor",),
    load=decode_record,
    load_all=decode_sequence,
    dump=encode_record,
    dump_item=encode_record,
)
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
    load=_exactly_one(parse_json_lines, "JSON Lines item"),
    load_all=parse_json_lines,
    dump=lambda value: _json_text(value) + b"\n",
    dump_item=lambda value: _json_text(value) + b"\n",
)
YAML = Codec(
    "yaml",
    ("application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml"),
    ("yaml", "yml"),
    load=_exactly_one(yaml_format.load_all, "YAML document"),
    load_all=yaml_format.load_all,
    dump=yaml_format.dump,
    dump_item=yaml_format.dump_item,
    framing="documents",
)
MSGPACK = Codec(
    "msgpack",
    ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack"),
    ("msgpack",),
    load=_exactly_one(msgpack_format.load_all, "MessagePack item"),
    load_all=msgpack_format.load_all,
    dump=msgpack_format.dump,
    dump_item=msgpack_format.dump,
)
CODECS = (JSON, CBOR, JSON_LINES, YAML, MSGPACK)
_BY_TYPE = {media_type: codec for codec in CODECS for media_type in codec.media_types}
_BY_EXTENSION = {ext: codec for codec in CODECS for ext in codec.extensions}
HTML_TYPE = "text/html"


def media_type_of(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def codec_for_body(content_type: str | None) -> Codec:
    found = _BY_TYPE.get(media_type_of(content_type))
    if found is None:
        raise Invalid(
            f"unsupported Content-Type {media_type_of(content_type)!r}: send JSON, CBOR, "
            "JSON Lines, YAML or MessagePack"
        )
    return found


def codec_for_extension(extension: str) -> Codec | None:
    return _BY_EXTENSION.get(extension.lower())


def codec_for_type(media_type: str) -> Codec | None:
    return _BY_TYPE.get(media_type_of(media_type))


# The types a browser's Accept stands for: the HTML UI. A wildcard counts as HTML because
# an API client names the codec it wants, and a client that would take anything is a
# browser to this system.
_HTML_TYPES = frozenset({HTML_TYPE, "text/*", "*/*"})


def negotiate(accept: str | None) -> Codec | None:
    """The codec of the most preferred type in ``Accept``, or None for HTML: the best is
    the highest q-value among the API types and HTML (``text/html``, ``text/*``, ``*/*``),
    the earlier-listed type on a tie. No ``Accept``, or one naming neither, means HTML."""
    best: tuple[float, Codec | None] | None = None  # (q-value, codec; None is HTML)
    for media_type, quality in weighted(accept):
        if media_type in _HTML_TYPES:
            codec = None
        elif media_type in _BY_TYPE:
            codec = _BY_TYPE[media_type]
        else:
            continue
        # Strictly greater: on a tie the type listed first keeps its place.
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, codec)
    return None if best is None else best[1]


# --- reading and writing -------------------------------------------------------------------


def decode_value(raw: bytes, codec: Codec, limits: DecodeLimits) -> Any:
    """One value."""
    return codec.load(raw, limits)


def decode_items(raw: bytes, codec: Codec, limits: DecodeLimits) -> Iterator[Any]:
    """The values of a stream: JSON Lines, a CBOR or MessagePack sequence, YAML documents,
    all within the limits of one body."""
    return codec.load_all(raw, limits)


def encode_value(value: Any, codec: Codec) -> bytes:
    return codec.dump(value)


def encode_plain(value: dict[str, Any] | list[Any], codec: Codec) -> bytes:
    """``encode_value`` of a listing that is plain JSON data already, as the record index
    and the lists of datasets are (see ``render_plain_json``): the same bytes, JSON's and
    JSON Lines' made without the walk that looks for tagged types."""
    if codec is JSON:
        return render_plain_json(value)
    if codec is JSON_LINES:
        return render_plain_json(value) + b"\n"
    return encode_value(value, codec)


def encode_stream(values: Iterable[Any], codec: Codec) -> Iterator[bytes]:
    """A list, streamed: a JSON array, one JSON value per line, YAML documents, or a CBOR
    or MessagePack sequence."""
    yield codec.opening
    for index, value in enumerate(values):
        yield (codec.separator if index else b"") + codec.dump_item(value)
    yield codec.closing


def html_page(title: str, value: Any) -> bytes:
    """What a browser gets: the data, readable. (The web UI will serve richer pages.)"""
    body = json.dumps(json.loads(_json_text(value)), indent=2, ensure_ascii=False)
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<pre>{html.escape(body)}</pre></body></html>"
    ).encode()
