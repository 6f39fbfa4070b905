"""Pigeon Optics attachments (reference §2.4): the ``cid:`` convenience of multipart record
writes, and reading attachments back from ``/attachments/<sha256>``.

Attachments are core blobs, stored once however many records (or files) hold the same
bytes. One is served to anyone who may read a record version linking it: in this system
that is everyone for its own (public) datasets, while a blob only private datasets link
stays invisible.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

from starlette.responses import Response

from dataloft.api.multipart import Part
from dataloft.api.pigeon.common import answer_listing, epoch_ms, record_path
from dataloft.api.pipeline import Call
from dataloft.api.transfer import serve_blob
from dataloft.core.errors import Invalid
from dataloft.core.values import JSMap, JSSet

# Escapes JavaScript's decodeURI leaves alone: those of the characters it calls reserved.
_RESERVED_ESCAPE = re.compile(r"(%(?:2[346BCF]|3[ABDF]|40))", re.IGNORECASE)
IMMUTABLE = "public, max-age=31536000, immutable"
DEFAULT_PART_TYPE = "text/plain"
MAX_TYPE_LENGTH = 255


def _decode_uri(text: str) -> str:
    pieces = _RESERVED_ESCAPE.split(text)
    return "".join(piece if index % 2 else unquote(piece) for index, piece in enumerate(pieces))


def _encode_uri_component(text: str) -> str:
    return quote(text, safe="-_.!~*'()")


def hash_url(part: Part) -> str:
    """The link a record uses for an uploaded part."""
    assert part.digest is not None
    media_type = part.media_type or DEFAULT_PART_TYPE
    return f"hash://sha256/{part.digest}?type={_encode_uri_component(media_type)}"


def cid_table(files: list[Part]) -> dict[str, str]:
    """``cid:`` names -> hash URLs: a part answers to its ``Content-ID`` (as sent, and
    without the angle brackets mail clients put around it), or else to its file name."""
    table: dict[str, str] = {}
    for part in files:
        if part.filename:
            table.setdefault(part.filename, hash_url(part))
    for part in files:
        if part.content_id:
            table[part.content_id] = hash_url(part)
            bare = part.content_id.removeprefix("<").removesuffix(">")
            table.setdefault(bare, hash_url(part))
    return table


def rewrite_cids(value: Any, table: dict[str, str]) -> Any:
    """``value`` with every whole-string ``cid:<name>`` (anywhere: keys, values, array
    items, Set members, Map keys and values) replaced by the hash URL of the uploaded part
    it names (``table``, from ``cid_table``). A ``cid:`` that names no part is refused,
    so that no record is stored pointing at nothing."""

    def rewrite(text: str) -> str:
        if not text.startswith("cid:"):
            return text
        found = table.get(_decode_uri(text[4:]))
        if found is None:
            raise Invalid(f"File URLs reference missing attachments: {text!r}")
        return found

    return _map_strings(value, rewrite)


def _map_strings(value: Any, rewrite: Any) -> Any:
    # Only str itself: a JSURL (a str subclass) is a URL value, not a cid: reference.
    if type(value) is str:
        return rewrite(value)
    if isinstance(value, list):
        return [_map_strings(item, rewrite) for item in value]
    if isinstance(value, dict):
        return {_map_strings(k, rewrite): _map_strings(v, rewrite) for k, v in value.items()}
    if isinstance(value, JSSet):
        return JSSet(_map_strings(item, rewrite) for item in value.items)
    if isinstance(value, JSMap):
        return JSMap((_map_strings(k, rewrite), _map_strings(v, rewrite)) for k, v in value.pairs)
    return value


# --- reading ---------------------------------------------------------------------------------


def attachment(call: Call) -> Response:
    """``GET /attachments/<sha256>?type=<media type>``: the bytes, with ``Range``, cached
    for a year (they can never change). They are other people's content, served as the
    one rule for user bytes says (``dataloft.api.transfer.user_content_headers``): a
    ``type`` the caller picks decides the ``Content-Type``, but an active one (HTML, SVG,
    ...) only ever makes an attachment named after the digest, and all are sandboxed."""
    loft = call.loft
    digest = call.param("digest")  # lower case: the hex64 convertor sees to it
    found = loft.attachments.get(call.actor, digest)
    media_type = call.query("type") or "application/octet-stream"
    # It becomes a header: printable ASCII only (no line breaks to smuggle headers in).
    if len(media_type) > MAX_TYPE_LENGTH or not (media_type.isascii() and media_type.isprintable()):
        raise Invalid("type must be a media type")
    return serve_blob(
        call.request,
        loft.blobs,
        found.blob,
        etag=f'"{digest}"',
        modified=found.created,
        media_type=media_type,
        filename=digest,
        headers={"Cache-Control": IMMUTABLE},
    )


def attachment_meta(call: Call) -> Response:
    """``GET /attachments/<sha256>/meta``: when the server got it, and who links to it."""
    loft, actor = call.loft, call.actor
    digest = call.param("digest")
    found = loft.attachments.get(actor, digest)
    linkers = loft.attachments.linkers(actor, digest)
    updated = max([found.created, *(linker.since for linker in linkers)])
    body = {
        "created": epoch_ms(found.created),
        "updated": epoch_ms(updated),
        "linkers": [record_path(ln.owner, ln.name, ln.record_id) for ln in linkers],
    }
    return answer_listing(call, body, f"attachment {digest}")
