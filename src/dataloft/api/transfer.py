"""Moving bytes over HTTP, for every dialect: streamed uploads into the blob store and
downloads with ``ETag``, ``If-None-Match``, ``Range`` and ``HEAD``; the one rule for how
user bytes may be shown by a browser (``user_content_headers``, with ``NoSniff`` for
every response); and ``ClosingStreamingResponse``, the one way the API streams a body from
a sync iterator (downloads, archives, exports), which closes the iterator however the
response ends."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import tempfile
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from email.utils import format_datetime
from typing import IO, Protocol, TypeVar
from urllib.parse import quote

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.api.limits import allow_body
from dataloft.api.threads import in_thread
from dataloft.core.blobs import BlobRef, BlobService, StoredBlob, Tee, Upload
from dataloft.core.browse import EntryRead
from dataloft.core.errors import Invalid, TooLarge, space_checked
from dataloft.core.pagination import ascii_natural
from dataloft.core.pipe import Pipe, read_through
from dataloft.storage.base import ByteBuffer
from dataloft.storage.chunks import close_iterator

T = TypeVar("T")
R = TypeVar("R")

# An upload's bytes go to a worker thread (hash + write) in batches of about this size, while
# the event loop keeps receiving the next one (see ``UploadFeed``).
UPLOAD_BATCH = 4 * 1024 * 1024
# Downloads read the file in chunks of this size, one worker-thread hop each. Against 1 MiB,
# 2 MiB took 13% less server CPU per GiB (0.41 s, not 0.47 s) and sent 10% faster (1.66
# GB/s, not 1.51, curl on the same machine); 4 MiB gained 2% more for 6 MB more peak RSS, and
# reading one chunk ahead while sending the last gained nothing beyond that.
DOWNLOAD_CHUNK = 2 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    length = ascii_natural(value)
    if length is None:
        raise Invalid(f"invalid Content-Length {value!r}")
    return length


async def receive_blob(
    request: Request,
    blobs: BlobService,
    *,
    max_size: int | None = None,
    expected: str | None = None,
    also: Sequence[hashlib._Hash] = (),
    tee: Tee | None = None,
) -> StoredBlob:
    """Stream the request body into a new blob, hashing as it arrives (with sha256, and
    with each digest of ``also``), handing what is written to ``tee`` too."""
    limit = blobs.max_size if max_size is None else min(max_size, blobs.max_size)
    allow_body(request, limit)
    length = declared_length(request)
    if length is not None and length > limit:
        raise TooLarge(f"body of {length} bytes exceeds the limit of {limit} bytes")
    upload = blobs.start_upload(max_size=limit, expected=expected, also=also, tee=tee)
    try:
        await _pump(request, upload)
        return await in_thread(upload.finish)
    except BaseException:
        upload.abort()
        raise


class PieceWriter(Protocol):
    """Takes the bytes of a body in batches of pieces (``Upload``, a resumable upload's
    ``Patch``): blocking, so called in a worker thread, one batch at a time."""

    def write_pieces(self, pieces: Sequence[ByteBuffer]) -> None: ...


class UploadFeed:
    """Hands a ``PieceWriter`` (an ``Upload``) the bytes of a body that arrive on the event
    loop, in few, large writes that run in a worker thread while the loop receives what
    follows.

    The server delivers a body in pieces of 64 to 256 KiB; a thread hop per piece would
    cost more than hashing and writing it. So pieces are collected (not copied: they are
    immutable) until they make ``UPLOAD_BATCH`` bytes, and each batch is hashed and written
    in one hop (``Upload.write_pieces`` hashes on one core while it writes on another, each
    releasing the GIL). A batch waits for the write before it, so writes stay in order,
    memory stays at two batches per upload however large it is, and a client faster than
    the disk is slowed down by the server not reading (TCP flow control)."""

    def __init__(self, upload: PieceWriter) -> None:
        self._upload = upload
        self._pieces: list[bytes | memoryview] = []
        self._collected = 0
        self._writing: asyncio.Future[None] | None = None

    async def write(self, data: bytes | memoryview) -> None:
        """Queue ``data``, which nobody may change afterwards (``bytes``, or a view of it)."""
        self._pieces.append(data)
        self._collected += len(data)
        if self._collected >= UPLOAD_BATCH:
            await self._hand_off()

    async def _hand_off(self) -> None:
        await self.settle()
        pieces, self._pieces, self._collected = self._pieces, [], 0
        self._writing = asyncio.ensure_future(in_thread(self._upload.write_pieces, pieces))

    def unwritten(self) -> list[bytes | memoryview]:
        """The pieces queued and not handed to a write yet, when no write is under way or
        failed (writing them next keeps the bytes in order); none otherwise."""
        writing = self._writing
        if writing is not None and (
            not writing.done() or writing.cancelled() or writing.exception() is not None
        ):
            return []
        return list(self._pieces)

    async def settle(self) -> None:
        """Wait for the write in flight, if any (raising what it raised)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    async def close(self) -> None:
        """Write what is still buffered and wait until every write is done."""
        if self._pieces:
            await self._hand_off()
        await self.settle()

    async def abandon(self) -> None:
        """After a failure: wait for the write in flight, whatever it raises, even when
        cancelled, so that the caller can abort the upload with no write still running
        (the error the caller already has is the one to report)."""
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await self.settle()


async def _pump(request: Request, upload: Upload) -> None:
    feed = UploadFeed(upload)
    try:
        async for chunk in request.stream():
            await feed.write(chunk)
        await feed.close()
    except ClientDisconnect:
        await feed.abandon()
        raise Invalid("the client went away before the upload finished") from None
    except BaseException:
        await feed.abandon()
        raise


async def _body_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, refusing more than ``limit`` bytes (a declared
    length over it before reading any)."""
    allow_body(request, limit)
    length = declared_length(request)
    if length is not None and length > limit:
        raise TooLarge(f"request body of {length} bytes exceeds the limit of {limit} bytes")
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body exceeds the limit of {limit} bytes")
            yield chunk
    except ClientDisconnect:
        raise Invalid("the client went away before the body was sent") from None


async def read_while_receiving(
    read: Callable[[Pipe], T], receive: Callable[[Pipe], Awaitable[R]]
) -> tuple[R, T]:
    """``receive`` hands a body's bytes to a ``Pipe`` on the event loop while ``read``
    reads them from it in a worker thread (a tar reader): what each returns. A refusal of
    the reader's reaches ``receive`` through ``Pipe.put`` and is what is raised; however
    the body ends, the reader learns it ended and is waited for."""
    pipe = Pipe()
    reading = asyncio.ensure_future(in_thread(read_through, pipe, read))
    try:
        received = await receive(pipe)
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await in_thread(pipe.end)
            await reading
        raise
    await in_thread(pipe.end)
    return received, await reading


async def body_batches(request: Request, limit: int) -> AsyncIterator[list[bytes]]:
    """The body's chunks (at most ``limit`` bytes in all) gathered into batches of about
    ``UPLOAD_BATCH`` bytes, for a consumer that takes each batch in one thread hop."""
    pieces: list[bytes] = []
    size = 0
    async for chunk in _body_chunks(request, limit):
        pieces.append(chunk)
        size += len(chunk)
        if size >= UPLOAD_BATCH:
            yield pieces
            pieces, size = [], 0
    if pieces:
        yield pieces


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (without reading them). A large
    one is copied out of its buffer in a worker thread: 20 MiB into fresh pages took the
    event loop's thread 55 ms of CPU on a virtual machine whose new pages are slow to
    fault in (``tests/reliability/test_event_loop.py`` caught it)."""
    body = bytearray()
    async for chunk in _body_chunks(request, limit):
        body += chunk
    if len(body) >= COPY_OFF_LOOP:
        return await in_thread(bytes, body)
    return bytes(body)


# A body at least this large is copied off the event loop (a thread hop costs ~50 µs).
COPY_OFF_LOOP = 1024 * 1024


SPOOL_WRITE = 1024 * 1024  # the body reaches its spool in writes this large, off the loop


def _spool_write(spool: IO[bytes], data: bytes) -> None:
    with space_checked("temporary space"):
        spool.write(data)


async def spool_body(request: Request, limit: int) -> IO[bytes]:
    """The whole body in a temporary file, rewound, for what must seek in it (a zip
    archive's directory is at its end). The caller closes it; it is gone once closed."""
    spool = tempfile.TemporaryFile(prefix="dataloft-body-")  # noqa: SIM115 (the caller closes it)
    try:
        pending = bytearray()
        async for chunk in _body_chunks(request, limit):
            pending += chunk
            if len(pending) >= SPOOL_WRITE:
                await in_thread(_spool_write, spool, bytes(pending))
                pending.clear()
        await in_thread(_spool_write, spool, bytes(pending))
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


# --- streamed bodies -------------------------------------------------------------------------


class ClosingStreamingResponse(StreamingResponse):
    """A ``StreamingResponse`` over a sync iterator of bytes that closes the iterator once
    the response is over: sent, failed, or abandoned by the client.

    Starlette never closes a body iterator. It runs a sync one through
    ``iterate_in_threadpool`` (one ``next`` per worker-thread hop), and when the client
    goes away (uvicorn speaks ASGI 2.3 to HTTP apps, so Starlette watches ``receive`` for
    ``http.disconnect``) it cancels the task that sends the body and leaves the iterator
    suspended. Whatever the iterator holds (an open blob, an archive's member reader and
    its records spool) then stays open until the cyclic garbage collector finds it, since
    the cancelled task's traceback keeps the frames that refer to it; many aborted
    downloads exhaust the process's descriptors long before that. So the iterator is
    closed here, in one place, whichever way the response ended.

    ``close`` runs in a worker thread (a generator's ``close`` runs its ``finally`` blocks,
    which may touch files or the database), shielded from cancellation so that a cancelled
    request still releases what it held. It never races a ``next``: both of Starlette's
    ways of sending return only after the worker thread running ``next`` has finished
    (anyio does not abandon a thread when the task waiting for it is cancelled)."""

    def __init__(
        self,
        content: Iterable[bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type)
        self._content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await in_thread(close_iterator, self._content)


# --- downloads -------------------------------------------------------------------------------


def attachment_disposition(filename: str) -> str:
    """``Content-Disposition`` for a download: an ASCII name for old clients, the real
    one (RFC 6266 ``filename*``) for the rest."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


# --- what a browser may do with user bytes ---------------------------------------------------
#
# Files, attachments and record values come from users, and are served from the app's own
# origin: HTML or SVG rendered there could run script with the rights of whoever views it
# (a session cookie, tokens a page keeps). So every response carrying user bytes is:
#
# - typed only as we say: ``X-Content-Type-Options: nosniff`` (``NoSniff`` sets it on every
#   response, ours and users' alike), so no browser turns ``text/plain`` into HTML;
# - sandboxed: ``Content-Security-Policy: sandbox`` gives the document a unique, opaque
#   origin with no script, forms or plugins, even if it is rendered;
# - and, unless its type is known to be passive, an attachment: a download, never
#   rendered in a tab. That covers what is active by design (HTML, XHTML, SVG, any XML, which
#   can carry XHTML or XSLT, JavaScript and its relatives), types a browser hands to a
#   plugin or viewer that may script (PDF, Flash, multipart/x-mixed-replace, MHTML), and
#   every type we cannot vouch for: ``application/octet-stream``, missing or unparsable
#   types, lists (a browser reads ``text/plain, text/html`` as HTML). An allowlist, because
#   a list of the dangerous types would always be one short.
#
# When the operator exposes the server under a second host name that serves nothing but
# user content (``settings.user_content_host``), a request for that host may render active
# types inline, still sandboxed and unsniffed: script there could only reach that origin,
# which holds no cookies and no tokens of ours (see docs/operations.md).

USER_CONTENT_CSP = "sandbox"
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# Substrings of a subtype that make it active whatever its top-level type: */xml, *+xml,
# xml-dtd, xslt, (x)html, javascript, ecmascript, jscript, livescript, vbscript, and SVG.
_ACTIVE_SUBTYPE = ("xml", "xsl", "html", "script", "svg")
# Old text types some browser ran (Internet Explorer's components, WAP's WML).
_ACTIVE_TEXT = frozenset(["x-component", "vnd.wap.wml", "vnd.wap.wmlscript"])
_PASSIVE_TOP = frozenset(["text", "image", "audio", "video"])
# Data browsers only display or download: our own record encodings among them.
_PASSIVE_DATA = frozenset(["application/json", "application/cbor"])


def is_passive(media_type: str) -> bool:
    """Whether a browser may render bytes of this type inline without running anything
    (given ``nosniff``): text other than markup and scripts, images other than SVG, audio,
    video, JSON and CBOR. Everything else is active or unknown (see above)."""
    if "," in media_type:
        return False
    essence = media_type.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(essence):
        return False
    top, _, subtype = essence.partition("/")
    if any(marker in subtype for marker in _ACTIVE_SUBTYPE):
        return False
    if top in _PASSIVE_TOP:
        return subtype not in _ACTIVE_TEXT
    return essence in _PASSIVE_DATA or subtype.endswith("+json")


def _host_name(host: str) -> str:
    """``Host`` without its port (``[::1]:8080`` -> ``[::1]``)."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def on_user_content_host(request: Request) -> bool:
    """Whether the request came in under the configured user-content host name (with its
    port, when the setting names one)."""
    configured: str | None = request.app.state.loft.settings.user_content_host
    if configured is None:
        return False
    host = request.headers.get("host", "").strip().lower().removesuffix(".")
    if _host_name(configured) != configured:  # the setting names a port: match it too
        return host == configured
    return _host_name(host).removesuffix(".") == configured


OCTET_STREAM = "application/octet-stream"


def user_content_headers(
    request: Request, media_type: str, filename: str, *, inline: Collection[str] = ()
) -> dict[str, str]:
    """The headers every response carrying user bytes gets (see above): the sandbox, and
    ``Content-Disposition: attachment`` for a type that is not passive, unless the
    request came in under the user-content host. ``filename`` names the download.

    ``inline``: types (exactly these essences) that keep the caller's own disposition
    although they are not passive, each for its own reason:

    - ``application/octet-stream``, for a dialect whose clients check for ``inline``
      (Pbench's inventory). No browser renders that type, given ``nosniff``: it offers to
      save the bytes; and the sandbox would hold if one did.
    - ``application/pdf``, for the web UI's preview frame, once it has seen the bytes
      begin as a PDF does. The browser's own viewer shows it, in the sandbox: a document
      of no origin, whose scripts (if the viewer ran any) could reach nothing of ours.

    Every other type follows the rule."""
    headers = {"Content-Security-Policy": USER_CONTENT_CSP}
    keep = is_passive(media_type) or media_type.split(";", 1)[0].strip().lower() in inline
    if not keep and not on_user_content_host(request):
        headers["Content-Disposition"] = attachment_disposition(filename)
    return headers


NOSNIFF = (b"x-content-type-options", b"nosniff")


class NoSniff:
    """Every response says ``X-Content-Type-Options: nosniff``: a browser must take the
    ``Content-Type`` we send and never guess one from the bytes. For user bytes that is
    half of what keeps them from running (``user_content_headers`` is the other half); for
    our own encodings (record JSON and CBOR, listings, errors) it costs nothing and keeps a
    record value that happens to look like HTML from ever being read as such."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), NOSNIFF]}
            await send(message)

        await self.app(scope, receive, send_nosniff)


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match``'s weak comparison (RFC 9110 13.1.2): ``W/`` does not count."""
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag.removeprefix("W/") in candidates


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
    inline: Collection[str] = (),
    redirect: bool = True,
) -> Response:
    """Serve an entry's bytes honouring HEAD, If-None-Match, Range and If-Range; a
    download is named after the entry's last path segment. (``inline``: see
    ``user_content_headers``; ``redirect``: see ``serve_blob``.)"""
    assert found.blob is not None
    return serve_blob(
        request,
        blobs,
        found.blob,
        etag=found.entry.etag,
        modified=found.modified,
        media_type=media_type or found.entry.media_type,
        filename=found.entry.path.rpartition("/")[2],
        headers={"X-Loft-Version": str(found.version), **(headers or {})},
        inline=inline,
        redirect=redirect,
    )


def serve_blob(
    request: Request,
    blobs: BlobService,
    ref: BlobRef,
    *,
    etag: str,
    modified: datetime,
    media_type: str,
    filename: str,
    headers: dict[str, str] | None = None,
    inline: Collection[str] = (),
    redirect: bool = True,
) -> Response:
    """Serve a blob's bytes honouring HEAD, If-None-Match, Range and If-Range, as user
    bytes (``user_content_headers``, which ``inline`` goes to) on every
    answer, 304 and 416 included. ``filename`` names the file when it goes out as an
    attachment. A whole-blob GET of a blob in S3 may be a redirect to the bucket instead
    (``BlobService.download_url``), unless ``redirect`` is False; the caller has checked
    the reader's rights already."""
    # Set as a header, not media_type=: Starlette would append "; charset=utf-8" to text/*
    # types, which is wrong for files in other encodings.
    base = {
        "Content-Type": media_type,
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Accept-Ranges": "bytes",
        **(headers or {}),
        # Last: no caller can loosen it.
        **user_content_headers(request, media_type, filename, inline=inline),
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
    if status == 200 and redirect:
        # The whole blob from the bucket itself (DATALOFT_S3_PRESIGNED_DOWNLOADS), with the
        # very type and disposition this answer would carry. Not cacheable: the URL expires.
        location = blobs.download_url(
            ref, media_type=media_type, disposition=base.get("Content-Disposition")
        )
        if location is not None:
            # With the file's ETag (its sha256) and date: the bucket's answer has its own
            # ETag, and a client that follows checks the bytes against ours.
            moved = {"ETag": etag, "Last-Modified": base["Last-Modified"], **(headers or {})}
            return Response(
                status_code=307,
                headers={**moved, "Location": location, "Cache-Control": "no-store"},
            )
    path = blobs.local_path(ref)
    if (
        status == 200
        and path is not None
        and "http.response.pathsend" in request.scope.get("extensions", {})
    ):
        return _PathSendResponse(str(path), base)
    body = blobs.read(ref, start, end, DOWNLOAD_CHUNK)  # opens the file now, before headers go
    return ClosingStreamingResponse(body, status_code=status, headers=base)
