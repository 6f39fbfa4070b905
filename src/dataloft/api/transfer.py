"""Moving bytes over HTTP, for every dialect: streamed uploads into the blob store and
downloads with ``ETag``, ``If-None-Match``, ``Range`` and ``HEAD``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import format_datetime
from functools import partial
from typing import ParamSpec, TypeVar
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dataloft.api.limits import allow_body
from dataloft.core.blobs import BlobRef, BlobService, StoredBlob, Upload
from dataloft.core.browse import EntryRead
from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.loft import Loft

T = TypeVar("T")
P = ParamSpec("P")

# Bytes are handed to a worker thread (hash + write) in pieces of this size, while the event
# loop keeps receiving the next piece: hashing and disk writes overlap with the network.
UPLOAD_BATCH = 1024 * 1024
DOWNLOAD_CHUNK = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking core code in the worker thread pool."""
    return await anyio.to_thread.run_sync(partial(function, *args, **kwargs))


async def quick_read(loft: Loft, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a short read (authentication and point lookups) where it is cheapest: inline on
    an embedded SQLite database, where a worker-thread hop costs more than the lookup
    itself, and in a worker thread when the database is across a network."""
    if loft.db.local:
        return function(*args, **kwargs)
    return await in_thread(function, *args, **kwargs)


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise Invalid(f"invalid Content-Length {value!r}")
    return int(value)


async def receive_blob(
    request: Request,
    blobs: BlobService,
    *,
    max_size: int | None = None,
    expected: str | None = None,
) -> StoredBlob:
    """Stream the request body into a new blob, hashing as it arrives."""
    limit = blobs.max_size if max_size is None else min(max_size, blobs.max_size)
    allow_body(request, limit)
    length = declared_length(request)
    if length is not None and length > limit:
        raise TooLarge(f"body of {length} bytes exceeds the limit of {limit} bytes")
    upload = blobs.start_upload(max_size=limit, expected=expected)
    try:
        await _pump(request, upload)
        return await in_thread(upload.finish)
    except BaseException:
        upload.abort()
        raise


async def _pump(request: Request, upload: Upload) -> None:
    pending: Awaitable[None] | None = None
    batch = bytearray()
    try:
        async for chunk in request.stream():
            batch += chunk
            if len(batch) >= UPLOAD_BATCH:
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(in_thread(upload.write, bytes(batch)))
                batch.clear()
    except ClientDisconnect:
        raise Invalid("the client went away before the upload finished") from None
    finally:
        if pending is not None:
            await pending
    if batch:
        await in_thread(upload.write, bytes(batch))


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (without reading them)."""
    allow_body(request, limit)
    length = declared_length(request)
    if length is not None and length > limit:
        raise TooLarge(f"request body of {length} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"request body exceeds the limit of {limit} bytes")
    except ClientDisconnect:
        raise Invalid("the client went away before the body was sent") from None
    return bytes(body)


# --- downloads -------------------------------------------------------------------------------


def attachment_disposition(filename: str) -> str:
    """``Content-Disposition`` for a download: an ASCII name for old clients, the real
    one (RFC 6266 ``filename*``) for the rest."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` with ``end`` exclusive, for a single ``bytes=`` range. Returns None
    when the header should be ignored (several ranges, other units, garbage: RFC 9110 lets a
    server answer those with the whole file). Raises ``RangeNotSatisfiable``."""
    match = _RANGE.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - suffix), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if start >= size or end <= start:
        raise RangeNotSatisfiable(size)
    return start, end


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size


class _PathSendResponse(Response):
    """Let the server send a whole local file itself (ASGI ``http.response.pathsend``)."""

    def __init__(self, path: str, headers: dict[str, str]) -> None:
        super().__init__(headers=headers)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.pathsend", "path": self.path})


def blob_response(
    request: Request,
    blobs: BlobService,
    found: EntryRead,
    *,
    media_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Serve an entry's bytes honouring HEAD, If-None-Match, Range and If-Range."""
    assert found.blob is not None
    return serve_blob(
        request,
        blobs,
        found.blob,
        etag=found.entry.etag,
        modified=found.modified,
        media_type=media_type or found.entry.media_type,
        headers={"X-Loft-Version": str(found.version), **(headers or {})},
    )


def serve_blob(
    request: Request,
    blobs: BlobService,
    ref: BlobRef,
    *,
    etag: str,
    modified: datetime,
    media_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """Serve a blob's bytes honouring HEAD, If-None-Match, Range and If-Range."""
    # Set as a header, not media_type=: Starlette would append "; charset=utf-8" to text/*
    # types, which is wrong for files in other encodings.
    base = {
        "Content-Type": media_type,
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Accept-Ranges": "bytes",
        **(headers or {}),
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=base)
    size = ref.size
    start, end, status = 0, size, 200
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header and (if_range is None or if_range.strip() == etag):
        try:
            span = _parse_range(range_header, size)
        except RangeNotSatisfiable:
            return Response(status_code=416, headers={**base, "Content-Range": f"bytes */{size}"})
        if span is not None:
            start, end, status = span[0], span[1], 206
            base["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    base["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=base)
    if ref.inline is not None:
        return Response(ref.inline[start:end], status_code=status, headers=base)
    path = blobs.local_path(ref)
    if (
        status == 200
        and path is not None
        and "http.response.pathsend" in request.scope.get("extensions", {})
    ):
        return _PathSendResponse(str(path), base)
    body = blobs.read(ref, start, end, DOWNLOAD_CHUNK)  # opens the file now, before headers go
    return StreamingResponse(body, status_code=status, headers=base)
