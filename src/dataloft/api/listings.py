"""Large listings on the wire, for every dialect: gzipped for clients that accept it, and
compressed as they stream when they are streamed.

A listing (a record index, a page of entries or versions, a directory, an export of
records) is JSON or another structured encoding, and gzip shrinks it two- to sixtyfold
(``bench/listings.py``: a record index, mostly sha256 hex, to 39%; a page of 1,000 files
to under 2%).
Which responses are compressed is decided route by route, here, not by a middleware over
the whole application: a file download or an attachment keeps its bytes (a ``Range``
names offsets in them, and its ``ETag`` names them), and an event stream must reach the
client one event at a time, which a compressor would hold back. So the handlers of
listings, and only they, build their responses with

- ``listing``: a body in hand (a page of at most a thousand items, a cached index), or
  ``model_listing`` for a native API page;
- ``streamed_listing``: chunks made as they are sent (an export of every record), which
  are never all held at once, gzipped or not.

Either way the client's ``Accept-Encoding`` decides, with q-values (``gzip;q=0`` refuses
gzip, ``*`` admits it), and the response says ``Vary: Accept-Encoding`` so that no shared
cache hands gzip to a client that did not ask for it. A body under ``MIN_COMPRESSED``
bytes goes as it is: gzip's framing and the work are not worth it. The content coding
changes nothing else: the decompressed bytes are the identity bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from dataloft.api.body_cache import accepts_gzip
from dataloft.api.transfer import ClosingStreamingResponse
from dataloft.storage.chunks import close_iterator, coalesced, gzip_chunks

# zlib's fastest level, as nginx's gzip default: these bodies are compressed for every
# request (the cached record index is not: body_cache.GZIP_LEVEL). On a 10,000-record
# dataset page (1.1 MB, mostly sha256 hex) level 1 took 13 ms for 39% of the size and
# level 6 23-36 ms for 38%; on a page of 1,000 native entries both give 1.4%.
LEVEL = 1
# Under this many bytes a body is sent as it is: gzip adds 18 bytes of framing, and a
# response this small fits in one packet either way.
MIN_COMPRESSED = 1024
# A stream's small chunks (one per record) are joined into pieces of this size: one send,
# and one hop to a worker thread, per piece.
STREAM_PIECE = 64 * 1024


def listing(
    request: Request,
    body: bytes,
    *,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``body``, gzipped if the client accepts gzip and it is ``MIN_COMPRESSED`` bytes or
    more. Compressed here, in the handler's worker thread, not on the event loop."""
    merged = _varying(headers)
    if len(body) >= MIN_COMPRESSED and accepts_gzip(request.headers.get("accept-encoding")):
        body = gzip.compress(body, LEVEL, mtime=0)  # no time: the same body, the same bytes
        merged["Content-Encoding"] = "gzip"
    return Response(body, media_type=media_type, headers=merged)


def model_listing(request: Request, page: BaseModel) -> Response:
    """A page the native API describes with a pydantic model, as FastAPI would send it
    (pydantic's own JSON writer, by alias: the same bytes), through ``listing``."""
    body = page.__pydantic_serializer__.to_json(page, by_alias=True)
    return listing(request, body, media_type="application/json")


def streamed_listing(
    request: Request,
    chunks: Iterable[bytes],
    *,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``chunks`` streamed, gzipped as they go if the client accepts gzip. The first
    ``MIN_COMPRESSED`` bytes are made here, in the handler's thread: a listing that ends
    within them goes whole and as it is (with a ``Content-Length``), and an error in its
    first step (a version that does not exist) is still an error response, not a cut
    stream. ``chunks`` is closed however the response ends."""
    iterator = iter(chunks)
    try:
        head, ended = _first_bytes(iterator, MIN_COMPRESSED)
    except BaseException:
        close_iterator(iterator)
        raise
    if ended:
        close_iterator(iterator)
        return listing(request, b"".join(head), media_type=media_type, headers=headers)
    merged = _varying(headers)
    compress = accepts_gzip(request.headers.get("accept-encoding"))
    if compress:
        merged["Content-Encoding"] = "gzip"
    body = _Resumed(head, iterator, compress)
    return ClosingStreamingResponse(body, media_type=media_type, headers=merged)


def _varying(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` with ``Accept-Encoding`` added to their ``Vary``."""
    merged = dict(headers or {})
    vary = next((key for key in merged if key.lower() == "vary"), None)
    if vary is None:
        merged["Vary"] = "Accept-Encoding"
    else:
        merged[vary] += ", Accept-Encoding"
    return merged


def _first_bytes(chunks: Iterator[bytes], size: int) -> tuple[list[bytes], bool]:
    """Chunks taken until they hold ``size`` bytes, and whether ``chunks`` ended first."""
    head: list[bytes] = []
    held = 0
    for chunk in chunks:
        head.append(chunk)
        held += len(chunk)
        if held >= size:
            return head, False
    return head, True


class _Resumed:
    """The rest of a stream whose first chunks were taken already, coalesced and, if asked,
    gzipped: ``Chunks`` whose ``close`` closes the stream it resumes even before its first
    piece (a generator closed before it started would run nothing, and the stream,
    already started, may hold an open database cursor)."""

    def __init__(self, head: list[bytes], rest: Iterator[bytes], compress: bool) -> None:
        self._rest = rest
        pieces = coalesced(chain(head, rest), STREAM_PIECE)
        self._pieces = gzip_chunks(pieces, LEVEL) if compress else pieces

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._pieces)

    def close(self) -> None:
        self._pieces.close()
        close_iterator(self._rest)
