"""``GET /<datasets|lenses>/<author>:<name>/as/<format>/<recordID>``: one record rendered
raw (reference §1.6), for linking a record's text, image bytes or encoded value
directly.

``<format>`` is a file extension (``json``, ``cbor``, ``txt``, ``png``, ...) or a media type,
URL-encoded (``image%2Fpng``). A record whose value is a string or a binary buffer is sent
as it is, with that type (default ``text/plain`` or ``application/octet-stream``); any other
value is encoded by the codec the format names, and a format no codec has is a 406
(the original's was a 500).

The bytes are the record's, chosen by whoever wrote it, and the type by whoever asks: so
every answer carries the headers every user byte gets (``user_content_headers``):
``Content-Security-Policy: sandbox`` (``nosniff`` is on every answer), and an active type
(HTML, SVG, XML, script) goes as a download, so it can run nothing in this origin."""

from __future__ import annotations

import mimetypes
from urllib.parse import unquote

from starlette.responses import Response

from dataloft.api.errors import NotAcceptable
from dataloft.api.pigeon.codecs import codec_for_extension, codec_for_type, media_type_of
from dataloft.api.pigeon.common import split_spec
from dataloft.api.pipeline import Call
from dataloft.api.transfer import user_content_headers
from dataloft.core.errors import EntryNotFound, NotFound

_TEXT_TYPES = {"txt": "text/plain", "text": "text/plain", "js": "text/javascript"}


def _media_type(form: str) -> str | None:
    """The media type a format names: itself if it is one, else the extension's."""
    if "/" in form:
        return media_type_of(form)
    codec = codec_for_extension(form)
    if codec is not None:
        return codec.media_type
    return _TEXT_TYPES.get(form.lower()) or mimetypes.guess_type(f"record.{form}")[0]


def _format_and_id(call: Call) -> tuple[str, str]:
    """The format and the record id, read from the raw path: a media type comes
    URL-encoded (``image%2Fpng``), and the decoded path would split it in two. The raw
    path is ``/<source>/<spec>/as/<format>/<id>`` (an author or name has no slash)."""
    raw = call.request.scope.get("raw_path")
    parts = raw.decode("latin-1").split("?", 1)[0].split("/") if raw else []
    if len(parts) >= 6 and parts[3] == "as":
        return unquote(parts[4]), unquote("/".join(parts[5:]))
    return call.param("format"), call.param("record_id")


def render_record(call: Call) -> Response:
    author, name = split_spec(call)
    form, record_id = _format_and_id(call)
    try:
        found, value = call.loft.browse.read_record(call.actor, author, name, record_id)
    except EntryNotFound:
        raise NotFound("Record Not Found") from None
    media_type = _media_type(form)
    version = {"X-Version": str(found.entry.version), "ETag": found.entry.etag}

    def answer(body: bytes, chosen: str) -> Response:
        # The house rule for user bytes (``user_content_headers``): sandboxed, and an active
        # type (HTML, SVG, XML, script) a download, not a page in this origin.
        sandbox = user_content_headers(call.request, chosen, f"{record_id}.{form}")
        return Response(body, media_type=chosen, headers={**sandbox, **version})

    if isinstance(value, str):
        chosen = media_type or "text/plain"
        if chosen.startswith("text/"):
            chosen += "; charset=utf-8"
        return answer(value.encode(), chosen)
    if isinstance(value, bytes):
        return answer(value, media_type or "application/octet-stream")
    codec = codec_for_type(form) if "/" in form else codec_for_extension(form)
    if codec is None:
        raise NotAcceptable("No way to encode content to this type")
    return answer(codec.dump(value), codec.media_type)
