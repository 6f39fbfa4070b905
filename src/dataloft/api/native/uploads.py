"""Native API: resumable uploads (tus 1.0.0, with its creation, creation-with-upload,
termination, checksum and expiration extensions) at ``/loft/v1/uploads/``. A finished
upload is a blob the uploader may name by its sha256 in a commit, as after
``PUT /blobs/{sha256}``. The protocol's headers are read in ``tus.py``; the uploads
themselves are ``dataloft.core.uploads``'."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Request, Response
from starlette.requests import ClientDisconnect

from dataloft.api.limits import allow_body
from dataloft.api.native.constraints import rule
from dataloft.api.native.deps import NativeCall, PublicCall, native_router
from dataloft.api.native.openapi import BINARY, errors
from dataloft.api.native.tus import (
    BLOB_HEADER,
    CHECKSUM_PATTERN,
    MAX_METADATA,
    METADATA_PATTERN,
    OFFSET_STREAM,
    VERSION,
    carries_bytes,
    discovery_headers,
    has_body,
    natural_header,
    parse_checksum,
    parse_metadata,
    require_bytes,
    state_headers,
    upload_length,
)
from dataloft.api.pipeline import Call
from dataloft.api.threads import in_thread
from dataloft.api.transfer import UploadFeed, declared_length
from dataloft.core.errors import Invalid
from dataloft.core.partials import Checksum
from dataloft.core.uploads import UPLOAD_ID, Patch, UploadState, require_uploader

UploadId = Annotated[
    str, Path(description="The upload's id, from its Location", pattern=f"^{UPLOAD_ID.pattern}$")
]


def upload_options(call: PublicCall) -> Response:
    """What this server's tus offers: its version, extensions, largest upload and
    checksum algorithms. Needs no token."""
    return Response(status_code=204, headers=discovery_headers(call.settings))


async def create_upload(call: NativeCall) -> Response:
    """Start an upload of ``Upload-Length`` bytes (creation). Its URL is the
    ``Location``. A body sent as ``application/offset+octet-stream`` is its first bytes
    (creation-with-upload); an ``Upload-Metadata`` key ``sha256`` declares the whole
    upload's digest, checked once all the bytes are there."""
    return await start_upload(
        call, lambda upload_id: str(call.request.url_for("upload_offset", upload_id=upload_id))
    )


async def start_upload(call: Call, location: Callable[[str], str]) -> Response:
    """``create_upload`` for any dialect that speaks tus: ``location`` is the URL of the
    upload of an id."""
    request, loft = call.request, call.loft
    require_uploader(call.actor)  # who asks comes first: 401 and 403 before any 400
    length = upload_length(request)
    metadata, expected = parse_metadata(call.header("upload-metadata"))
    with_bytes = carries_bytes(request)
    if not with_bytes and has_body(request):
        require_bytes(request)  # a body of anything else: 415
    checksum = parse_checksum(call.header("upload-checksum")) if with_bytes else None
    state = await call.in_thread(
        loft.uploads.create, call.actor, length, metadata=metadata, expected=expected
    )
    if with_bytes:
        try:
            state = await _receive(call, state.id, state.offset, checksum)
        except BaseException:
            # The client never learns this upload's URL: it could not resume it.
            with anyio.CancelScope(shield=True):
                await in_thread(_forget, call, state.id)
            raise
    return Response(
        status_code=201, headers={"Location": location(state.id), **state_headers(state)}
    )


def _forget(call: Call, upload_id: str) -> None:
    # If this fails too, the upload expires in time; the first error is the one to tell.
    with suppress(Exception):
        call.loft.uploads.terminate(call.actor, upload_id)


def upload_offset(upload_id: UploadId, call: NativeCall) -> Response:
    """Where the upload stands: resume it from ``Upload-Offset``. Once finished,
    ``Loft-Blob-Sha256`` names the blob it became."""
    state = call.loft.uploads.state(call.actor, upload_id)
    headers = {
        **state_headers(state),
        "Upload-Length": str(state.length),
        "Cache-Control": "no-store",
    }
    if state.metadata is not None:
        headers["Upload-Metadata"] = state.metadata
    return Response(status_code=200, headers=headers)


async def patch_upload(upload_id: UploadId, call: NativeCall) -> Response:
    """Append the body to the upload at ``Upload-Offset``, which must be the upload's
    offset. If the client goes away mid-body, what arrived is kept: ask for the offset
    and resume. With the last byte the upload becomes a blob (``Loft-Blob-Sha256``)."""
    require_uploader(call.actor)
    require_bytes(call.request)
    offset = natural_header(call.request, "Upload-Offset")
    checksum = parse_checksum(call.header("upload-checksum"))
    state = await _receive(call, upload_id, offset, checksum)
    return Response(status_code=204, headers=state_headers(state))


def terminate_upload(upload_id: UploadId, call: NativeCall) -> Response:
    """Remove the upload and its bytes (termination). A blob it became stays yours."""
    call.loft.uploads.terminate(call.actor, upload_id)
    return Response(status_code=204)


async def _receive(
    call: Call, upload_id: str, offset: int, checksum: Checksum | None
) -> UploadState:
    """The request's body appended to an upload, streamed: in a worker thread, a batch
    at a time, while the event loop receives the next (``UploadFeed``)."""
    request = call.request
    allow_body(request, call.loft.uploads.max_size)
    patch = await call.in_thread(
        call.loft.uploads.begin,
        call.actor,
        upload_id,
        offset,
        checksum=checksum,
        declared=declared_length(request),
    )
    return await _pump(request, patch)


async def _pump(request: Request, patch: Patch) -> UploadState:
    """Feed the body to ``patch`` and end it: ``finish`` when the body is whole; ``keep``
    when the client went away, or the request is cancelled (a server that stops), so that
    what arrived can be resumed from; ``discard`` on any failure."""
    feed = UploadFeed(patch)
    went_away = False
    try:
        try:
            async for chunk in request.stream():
                await feed.write(chunk)
        except ClientDisconnect:
            went_away = True
        await feed.close()
        if went_away:
            await in_thread(patch.keep)
            raise Invalid("the client went away before the body ended; what arrived is kept")
        return await in_thread(patch.finish)
    except anyio.get_cancelled_exc_class():
        # The server stops, and cancels the request itself: no await gets through now,
        # shielded or not. A thread of its own keeps what arrived, once the write under
        # way (if one is) is done; bytes queued behind such a write are lost. (A patch
        # that ended already stays as it ended.)
        threading.Thread(target=patch.keep, args=(feed.unwritten(),), name="keep").start()
        raise
    except BaseException:
        await feed.abandon()
        if not patch.ended:  # nothing of a failed body is kept
            with anyio.CancelScope(shield=True):
                await in_thread(patch.discard)
        raise


# --- the routes and their documentation -----------------------------------------------------


def _header(name: str, description: str, schema: dict[str, Any], required: bool = True) -> Any:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    }


_RESUMABLE = _header(
    "Tus-Resumable",
    f"The tus version the client speaks: {VERSION}. Without it, 412 and Tus-Version",
    {"type": "string", "enum": [VERSION]},
)
_OFFSET = _header(
    "Upload-Offset",
    "Where the body's bytes go: the upload's offset",
    {"type": "integer", "minimum": 0},
)
_CHECKSUM = _header(
    "Upload-Checksum",
    "This request's bytes must have this checksum: '<algorithm> <base64 of the raw "
    "digest>', sha256 or sha1. A mismatch is 460 and nothing is kept",
    {"type": "string", "pattern": CHECKSUM_PATTERN},
    required=False,
)
_BYTES_BODY = {
    "description": "Bytes of the upload, from its offset on",
    "content": {OFFSET_STREAM: BINARY},
}


def _out(name: str, description: str, schema: dict[str, Any], required: bool = True) -> Any:
    return {name: {"description": description, "required": required, "schema": schema}}


_OUT_RESUMABLE = _out("Tus-Resumable", "The tus version of the answer", {"type": "string"})
_OUT_OFFSET = _out("Upload-Offset", "How many bytes the upload holds", {"type": "integer"})
_OUT_EXPIRES = _out(
    "Upload-Expires",
    "When the upload expires unless more bytes come (an HTTP date)",
    {"type": "string"},
)
_OUT_BLOB = _out(
    BLOB_HEADER,
    "Once the upload is finished: the sha256 of the blob it became, to name in a commit",
    {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    required=False,
)
# tus's 412 says which versions the server speaks.
_NOT_RESUMABLE: dict[int | str, Any] = {
    412: {
        **errors(412)[412],
        "description": f"The request does not say Tus-Resumable: {VERSION}",
        "headers": _out("Tus-Version", "The tus versions this server speaks", {"type": "string"}),
    }
}


router: APIRouter = native_router(tags=["uploads"])
router.add_api_route(
    "/uploads/",
    upload_options,
    methods=["OPTIONS"],
    status_code=204,
    response_class=Response,
    responses={
        204: {
            "description": "What the server offers",
            "headers": {
                **_OUT_RESUMABLE,
                **_out("Tus-Version", "The tus versions it speaks", {"type": "string"}),
                **_out("Tus-Extension", "The extensions it offers", {"type": "string"}),
                **_out("Tus-Max-Size", "The largest upload, in bytes", {"type": "integer"}),
                **_out(
                    "Tus-Checksum-Algorithm",
                    "The algorithms Upload-Checksum may name",
                    {"type": "string"},
                ),
            },
        }
    },
    openapi_extra={"security": []},
)
router.add_api_route(
    "/uploads/",
    create_upload,
    methods=["POST"],
    status_code=201,
    response_class=Response,
    responses={
        201: {
            "description": "Created: Location is its URL. Upload-Offset says how many bytes "
            "of a body were taken",
            "headers": {
                **_out("Location", "The upload's URL (absolute)", {"type": "string"}),
                **_OUT_RESUMABLE,
                **_OUT_EXPIRES,
                **_OUT_OFFSET,
                **_OUT_BLOB,
            },
        },
        **errors(403, 413, 415, 460),
        **_NOT_RESUMABLE,
    },
    openapi_extra={
        "parameters": [
            _RESUMABLE,
            _header(
                "Upload-Length",
                "The whole upload's size in bytes (at most max_file_size; "
                "Upload-Defer-Length is not offered)",
                {"type": "integer", "minimum": 0, **rule("file_size")},
            ),
            _header(
                "Upload-Metadata",
                "'key base64value' pairs, separated by commas, each key once; kept and "
                "given back as sent. The key sha256 declares the whole upload's sha256 (64 "
                "lowercase hex digits, base64-encoded): a mismatch refuses the upload",
                {"type": "string", "pattern": METADATA_PATTERN, "maxLength": MAX_METADATA},
                required=False,
            ),
            _CHECKSUM,
        ],
        "requestBody": {**_BYTES_BODY, "required": False},
    },
)
router.add_api_route(
    "/uploads/{upload_id}",
    upload_offset,
    methods=["HEAD"],
    response_class=Response,
    responses={
        200: {
            "description": "Where the upload stands",
            "headers": {
                **_OUT_RESUMABLE,
                **_OUT_OFFSET,
                **_out("Upload-Length", "The whole upload's size", {"type": "integer"}),
                **_out(
                    "Upload-Metadata",
                    "As the client sent it, if it did",
                    {"type": "string"},
                    required=False,
                ),
                **_OUT_EXPIRES,
                **_out("Cache-Control", "no-store", {"type": "string"}),
                **_OUT_BLOB,
            },
        },
        **errors(403, 404),
        **_NOT_RESUMABLE,
    },
    openapi_extra={"parameters": [_RESUMABLE]},
)
router.add_api_route(
    "/uploads/{upload_id}",
    patch_upload,
    methods=["PATCH"],
    status_code=204,
    response_class=Response,
    responses={
        204: {
            "description": "The bytes are stored",
            "headers": {**_OUT_RESUMABLE, **_OUT_OFFSET, **_OUT_EXPIRES, **_OUT_BLOB},
        },
        **errors(404, 409, 415, 460),
        **_NOT_RESUMABLE,
    },
    openapi_extra={
        "parameters": [_RESUMABLE, _OFFSET, _CHECKSUM],
        "requestBody": {**_BYTES_BODY, "required": True},
    },
)
router.add_api_route(
    "/uploads/{upload_id}",
    terminate_upload,
    methods=["DELETE"],
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Terminated", "headers": _OUT_RESUMABLE},
        **errors(404),
        **_NOT_RESUMABLE,
    },
    openapi_extra={"parameters": [_RESUMABLE]},
)
