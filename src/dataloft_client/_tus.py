"""The client side of resumable uploads: tus 1.0 (https://tus.io/protocols/resumable-upload)
at ``/loft/v1/uploads/``, for blobs of ``resumable_threshold`` bytes and more.

1. ``POST /uploads/`` with ``Upload-Length`` and ``Upload-Metadata`` (the sha256 of the
   whole, which the server checks at the end, and the file's name): ``201`` and the
   upload's URL in ``Location``. The URL is saved at once in the resume file (``_resume``)
   under the bytes' sha256 and size.
2. One ``PATCH`` streams everything from the offset to the end: the fastest way, one
   request however large the file.
3. If that fails (the connection breaks, the server restarts, a 409 because the server
   still finishes the broken PATCH), wait, ``HEAD`` the URL for the offset the server
   holds, and ``PATCH`` from there. Failures that make no progress count against the
   client's ``retries``; a failure after progress starts the count again.
4. The ``PATCH`` that completes the upload (or a ``HEAD`` of a finished one) carries
   ``Loft-Blob-Sha256``: the blob now exists, and the resume entry goes.

A new process uploading the same bytes finds the URL in the resume file, ``HEAD``s it and
continues; an upload the server no longer knows (expired) is started again, once.

No ``Upload-Checksum`` per PATCH: it would need the digest of the rest of the file before
sending it, a second read of every byte, while the whole file's sha256 is checked anyway.
"""

from __future__ import annotations

import base64

import httpx

from dataloft_client._commands import Op, Request, Sleep
from dataloft_client._exceptions import (
    ChecksumMismatch,
    Conflict,
    DataloftError,
    NotFound,
    ServerError,
    TransportError,
)
from dataloft_client._http import Context, send
from dataloft_client._resume import ResumeStore
from dataloft_client._sources import Source, Tally

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
BLOB_HEADER = "loft-blob-sha256"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def upload(ctx: Context, source: Source, sha256: str, tally: Tally) -> Op[str]:
    """Send ``source`` (whose sha256 is ``sha256``) as a blob through tus; its digest."""
    store = ResumeStore(ctx.config_dir)
    key = store.key(str(ctx.server), sha256, source.size)
    url = store.get(key)
    offset: int | None = None  # None: ask the server
    started_again = False
    while True:
        if url is None:
            url = yield from _create(ctx, source, sha256)
            store.put(key, url)
            offset = 0
        try:
            digest = yield from _send_rest(ctx, url, source, tally, offset)
            break
        except NotFound:  # expired, or removed: start again, once
            store.drop(key)
            if started_again:
                raise
            url, started_again = None, True
    store.drop(key)
    if digest != sha256:
        message = f"the server made the blob {digest} of bytes whose sha256 is {sha256}"
        raise ChecksumMismatch(460, "checksum_mismatch", message, None)
    return digest


def _create(ctx: Context, source: Source, sha256: str) -> Op[str]:
    metadata = f"sha256 {_b64(sha256)}"
    if source.name:
        metadata += f",filename {_b64(source.name)}"
    headers = {**TUS, "Upload-Length": str(source.size), "Upload-Metadata": metadata}
    response = yield from send(ctx, Request("POST", "/uploads/", headers=headers))
    location = response.headers.get("location")
    if not location:
        raise DataloftError("the server made an upload but did not say where (no Location)")
    url = response.url.join(location)
    if not ctx.same_origin(url):
        raise DataloftError(f"the server put the upload elsewhere: {url}; refused")
    return str(url)


def _status(ctx: Context, url: str) -> Op[tuple[int, str | None]]:
    """The offset the server holds, and the blob's digest if the upload is done."""
    response = yield from send(ctx, Request("HEAD", url, headers=TUS))
    return _offset(response), response.headers.get(BLOB_HEADER)


def _offset(response: httpx.Response) -> int:
    try:
        return int(response.headers["upload-offset"])
    except (KeyError, ValueError):
        raise DataloftError(f"{response.request.url} gave no Upload-Offset") from None


def _recoverable(error: DataloftError) -> bool:
    """A PATCH that failed this way may go on from the server's offset."""
    if isinstance(error, ServerError):
        return error.status in (502, 503, 504)
    return isinstance(error, TransportError | Conflict)


def _send_rest(ctx: Context, url: str, source: Source, tally: Tally, offset: int | None) -> Op[str]:
    digest: str | None = None
    if offset is None:
        offset, digest = yield from _status(ctx, url)
    failures = 0
    while digest is None:
        tally.reach(offset)  # what the server holds already counts, once
        if offset >= source.size:
            raise DataloftError(f"the upload {url} holds all its bytes but made no blob")
        headers = {**TUS, "Content-Type": OFFSET_STREAM, "Upload-Offset": str(offset)}
        request = Request("PATCH", url, headers=headers, content=source.body(offset, tally))
        try:
            response = yield from send(ctx, request)
        except DataloftError as error:
            if not _recoverable(error) or failures >= ctx.policy.retries:
                raise
            yield Sleep(ctx.policy.backoff(failures))
            before = offset
            offset, digest = yield from _status(ctx, url)
            failures = 0 if offset > before else failures + 1
            continue
        offset, digest = _offset(response), response.headers.get(BLOB_HEADER)
    tally.reach(source.size)
    return digest
