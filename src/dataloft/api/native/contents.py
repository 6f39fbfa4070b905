"""Native API: files, records, multi-change commits and blob uploads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from dataloft.api.listings import model_listing
from dataloft.api.native import DIALECT, PREFIX
from dataloft.api.native.constraints import json_object, rule, text
from dataloft.api.native.deps import NativeCall, native_router
from dataloft.api.native.openapi import (
    ANONYMOUS,
    BINARY,
    FILE_TYPES,
    RECORD_TYPES,
    errors,
    link,
    read_operations,
)
from dataloft.api.native.schemas import (
    BlobBatchOut,
    BlobOut,
    BlobProbeBody,
    BlobProbeOut,
    CommitBody,
    CommitOut,
    EntryPage,
    WriteOut,
)
from dataloft.api.native.version_refs import VersionQuery, version_ref
from dataloft.api.pipeline import Call, InThread, Pipeline, memo, quick
from dataloft.api.transfer import (
    blob_response,
    body_batches,
    etag_matches,
    read_while_receiving,
    receive_blob,
)
from dataloft.core.access import Action, require_full_token
from dataloft.core.blob_batches import store_batch
from dataloft.core.browse import EntryRead
from dataloft.core.cbor import decode_record
from dataloft.core.changes import (
    FILES,
    MAX_ENTRY_METADATA_BYTES,
    MAX_MESSAGE_LENGTH,
    RECORDS,
    Change,
    CommitResult,
    DeleteFile,
    DeleteRecord,
    Guard,
    PutFile,
    PutRecord,
    PutSymlink,
)
from dataloft.core.decoding import DecodeLimits
from dataloft.core.errors import Invalid
from dataloft.core.names import RECORD_ID_MAX, validate_digest, validate_path
from dataloft.core.pipe import Pipe
from dataloft.core.values import from_jsonable, parse_json

DATASET = "/datasets/{owner}/{name}"
CBOR = "application/cbor"
# Content types that say nothing about the file (curl's default for --data-binary, ...).
_UNINFORMATIVE = {"application/x-www-form-urlencoded", "multipart/form-data", ""}

ParentQuery = Annotated[
    int | None, Query(ge=0, description="Fail with 412 unless the head is this version")
]
MessageQuery = Annotated[
    str, Query(description="Commit message", json_schema_extra=text(MAX_MESSAGE_LENGTH))
]
_PATH_DOC = "The file's path in the dataset: '/'-separated, relative"
_RECORD_ID_DOC = "The record's id (any text, '/' included)"
EntryPath = Annotated[str, Path(description=_PATH_DOC, json_schema_extra=rule("path"))]
RecordId = Annotated[str, Path(description=_RECORD_ID_DOC, json_schema_extra=rule("record_id"))]
Sha256 = Annotated[str, Path(description="Lowercase hex", json_schema_extra=rule("sha256"))]
# The same parameters, for the pipeline's reads (documented by hand: see openapi.py).
_PATH = {"name": "path", "description": _PATH_DOC, "schema": {"type": "string", **rule("path")}}
_RECORD_ID = {
    "name": "record_id",
    "description": _RECORD_ID_DOC,
    "schema": {"type": "string", **rule("record_id")},
}


@dataclass(frozen=True)
class _Target:
    """Where a write goes: the dataset (path parameters), the version it must follow and
    the commit's message (query parameters)."""

    owner: str
    name: str
    parent: ParentQuery = None
    message: MessageQuery = ""


WriteTarget = Annotated[_Target, Depends()]


def _strip_etag(value: str) -> str:
    value = value.strip().removeprefix("W/")
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def guard_from(request: Request) -> Guard:
    """``If-Match: "<sha256>"`` or ``*``, ``If-None-Match: *`` on single-entry writes."""
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise Invalid("on writes, If-None-Match only supports '*' (create only)")
    return Guard(
        if_match=_strip_etag(if_match) if if_match is not None else None,
        if_none_match=if_none_match is not None,
    )


def _write_response(result: CommitResult, location: str | None = None) -> JSONResponse:
    outcome, entry = result.outcomes[0], result.entries[0]
    body = WriteOut(version=result.version.number, outcome=outcome, entry=entry)
    headers = {"X-Loft-Version": str(result.version.number)}
    if entry is not None:
        headers["ETag"] = entry.etag
    if location and outcome == "added":
        headers["Location"] = quote(location)
    status = 201 if outcome == "added" else 200
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _metadata_header(value: str | None, limits: DecodeLimits) -> dict[str, Any] | None:
    if value is None:
        return None
    metadata = parse_json(value.encode("latin-1"), limits)  # the header's bytes, as sent
    if not isinstance(metadata, dict):
        raise Invalid("X-Loft-Metadata must hold a JSON object")
    return metadata


# --- reads (the most requested routes: pipeline routes, mounted before all others) --------


def _found(call: Call, space: str, key: str) -> EntryRead:
    owner, name = call.param("owner"), call.param("name")
    version = version_ref(call.query("version"))
    return call.loft.browse.get_entry(call.actor, owner, name, space, key, version)


def get_record(call: Call) -> Response | InThread:
    """The record's value as JSON (``{type, data}`` tags for Buffers, Sets, Maps, Dates),
    or as canonical CBOR with ``Accept: application/cbor``. ``ETag`` is the quoted sha256
    of the CBOR."""
    loft = call.loft
    found = _found(call, RECORDS, call.param("record_id"))
    if _wants_cbor(call.request):
        return blob_response(call.request, loft.blobs, found, media_type=CBOR)
    headers = {"ETag": found.entry.etag, "X-Loft-Version": str(found.version)}
    if_none_match = call.header("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, found.entry.etag):
        return Response(status_code=304, headers=headers)
    blob = found.blob
    assert blob is not None

    def render() -> Response:
        body = loft.browse.record_json(blob)
        if call.request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            body = b""
        return Response(body, media_type="application/json", headers=headers)

    # Up to max_record_size bytes from the blob store are no quick work.
    return render() if blob.inline is not None else InThread(render)


def get_file(call: Call) -> Response:
    """The file's bytes. ``ETag`` is the quoted sha256; ``If-None-Match`` gives 304,
    ``Range`` gives 206."""
    path = call.param("path")
    found = _found(call, FILES, path)
    if found.entry.kind == "symlink":
        return JSONResponse(
            {"path": path, "target": found.entry.target, "kind": "symlink"},
            headers={"X-Loft-Symlink": found.entry.target or ""},
        )
    return blob_response(call.request, call.loft.blobs, found)


def mount_reads(app: FastAPI) -> None:
    routes = Pipeline(app, DIALECT)
    prefix = PREFIX + DATASET
    routes.add(
        prefix + "/records/{record_id:anypath}",
        {"GET": memo(get_record)},
        openapi=read_operations(get_record, "records", _RECORD_ID, RECORD_TYPES),
    )
    routes.add(
        prefix + "/files/{path:anypath}",
        {"GET": quick(get_file)},
        openapi=read_operations(get_file, "files", _PATH, FILE_TYPES),
    )


# --- listings --------------------------------------------------------------------------------


def _listing(space: str) -> Callable[..., Response]:
    def listing(
        owner: str,
        name: str,
        call: NativeCall,
        version: VersionQuery = None,
        prefix: str | None = Query(None, json_schema_extra=text(RECORD_ID_MAX)),
        limit: int | None = Query(None, ge=1, le=1000),
        cursor: str | None = None,
    ) -> Response:
        at, page = call.loft.browse.list_entries(
            call.actor,
            owner,
            name,
            space,
            version=version_ref(version),
            prefix=prefix,
            limit=limit,
            cursor=cursor,
        )
        out = EntryPage(version=at, items=page.items, next_cursor=page.next_cursor)
        return model_listing(call.request, out)

    return listing


LISTINGS = {
    "files": (
        FILES,
        "Files and symlinks at a version (default: the head), in path order, "
        "keyset-paginated. Each entry's ``version`` is the version in which its content "
        "appeared.",
    ),
    "records": (
        RECORDS,
        "Records at a version (default: the head), in id order, keyset-paginated. Each "
        "entry's ``version`` is the version in which its value appeared.",
    ),
}


# --- files -----------------------------------------------------------------------------------


def _whole_bodies_only(call: NativeCall) -> None:
    """A body with ``Content-Range`` is a part of something, and a PUT here stores the
    body as the whole: refused (as RFC 9110 §14.5 asks of a server that does not take
    partial PUTs), before it is read, rather than the part kept as the file."""
    if call.header("content-range") is not None:
        raise Invalid(
            "Content-Range is not taken: a PUT stores its body as the whole file. Send the "
            "whole file, or send a large one in parts, resumably, as a tus upload "
            "(POST /loft/v1/uploads/), and name the blob it becomes in a commit"
        )


async def put_file(path: EntryPath, target: WriteTarget, call: NativeCall) -> Response:
    """Upload a file (the raw body, streamed) as one commit. The Content-Type becomes the
    file's media type (guessed from the name when absent). ``If-None-Match: *`` creates
    only; ``If-Match: "<sha256>"`` replaces only that content."""
    loft, request = call.loft, call.request
    _whole_bodies_only(call)
    validate_path(path, loft.settings.max_path_length)
    guard = guard_from(request)
    metadata = _metadata_header(call.header("x-loft-metadata"), call.settings.decode_limits)
    await call.in_thread(  # before the upload
        loft.datasets.get, call.actor, target.owner, target.name, Action.WRITE
    )
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    stored = await receive_blob(request, loft.blobs)
    change = PutFile(
        path,
        blob=stored,
        media_type=None if media_type in _UNINFORMATIVE else media_type,
        metadata=metadata,
        guard=guard,
    )
    result = await call.in_thread(_commit, call, target, [change])
    return _write_response(result, str(request.url.path))


def _commit(call: Call, target: _Target, changes: list[Change]) -> CommitResult:
    owner, name = target.owner, target.name
    return call.loft.commits.commit(
        call.actor, owner, name, changes, parent=target.parent, message=target.message
    )


def delete_file(path: EntryPath, target: WriteTarget, call: NativeCall) -> Response:
    change = DeleteFile(path, guard=guard_from(call.request))
    return _write_response(_commit(call, target, [change]))


# --- records ---------------------------------------------------------------------------------


def _wants_cbor(request: Request) -> bool:
    return CBOR in request.headers.get("accept", "").lower()


def put_record(record_id: RecordId, target: WriteTarget, call: NativeCall) -> Response:
    """Write one record: a JSON body (``{type, data}`` tags allowed) or, with
    ``Content-Type: application/cbor``, CBOR."""
    raw = call.read_body(call.settings.max_json_body)
    # Media types are case-insensitive (RFC 9110), as for files.
    content_type = (call.header("content-type") or "application/json").split(";")[0]
    content_type = content_type.strip().lower()
    limits = call.settings.decode_limits
    if content_type == CBOR:
        value = decode_record(raw, limits)
    elif content_type in ("application/json", "text/json", "") or content_type.endswith("+json"):
        value = parse_json(raw, limits)
    else:
        raise Invalid(f"records are JSON or CBOR, not {content_type!r}")
    change = PutRecord(record_id, value, guard=guard_from(call.request))
    result = _commit(call, target, [change])
    return _write_response(result, str(call.request.url.path))


def delete_record(record_id: RecordId, target: WriteTarget, call: NativeCall) -> Response:
    change = DeleteRecord(record_id, guard=guard_from(call.request))
    return _write_response(_commit(call, target, [change]))


# --- commits ---------------------------------------------------------------------------------


def to_change(op: Any) -> Change:
    """One operation of a commit's body (``CommitBody.changes``) as the core's change."""
    # The sha256 as bare hex, or as the ETag gives it ("\"<sha256>\"", W/ too), or "*".
    if_match = _strip_etag(op.if_match) if op.if_match is not None else None
    guard = Guard(if_match=if_match, if_none_match=op.if_none_match)
    if op.op == "put_file":
        return PutFile(
            op.path, digest=op.sha256, media_type=op.media_type, metadata=op.metadata, guard=guard
        )
    if op.op == "delete_file":
        return DeleteFile(op.path, guard=guard)
    if op.op == "put_symlink":
        return PutSymlink(op.path, op.target, metadata=op.metadata, guard=guard)
    if op.op == "put_record":
        return PutRecord(op.id, from_jsonable(op.value), metadata=op.metadata, guard=guard)
    return DeleteRecord(op.id, guard=guard)


def commit(owner: str, name: str, body: CommitBody, call: NativeCall) -> CommitOut:
    """Apply many changes as one new version. Upload file contents first with
    ``PUT /loft/v1/blobs/{sha256}`` (``HEAD`` tells whether the server already has them),
    then reference them by sha256 here."""
    changes = [to_change(op) for op in body.changes]
    target = _Target(owner, name, body.parent, body.message)
    result = _commit(call, target, changes)
    return CommitOut(version=result.version, outcomes=result.outcomes)


# --- blobs -----------------------------------------------------------------------------------


async def put_blob(sha256: Sha256, call: NativeCall) -> Response:
    """Upload bytes whose sha256 you announce; a mismatch is a 400 and nothing is kept.
    201 when the bytes are new to you (you could not name them before), 200 when you could
    already: whether the server held them for someone else is not told."""
    require_full_token(call.actor, "upload blobs")
    _whole_bodies_only(call)
    validate_digest(sha256)
    blobs = call.loft.blobs
    stored = await receive_blob(call.request, blobs, expected=sha256)
    created = await call.in_thread(blobs.save, call.actor, stored)
    body = BlobOut(sha256=stored.digest, size=stored.size, created=created)
    return JSONResponse(body.model_dump(), status_code=201 if created else 200)


async def put_blob_batch(call: NativeCall) -> Response:
    """Many blobs in one request: a tar stream (plain, or gzip-, xz- or bzip2-compressed)
    of up to 10,000 regular files, each named by the sha256 of its bytes. Each is checked
    as it arrives and all are registered at once; ``created`` as for ``PUT /blobs``."""
    require_full_token(call.actor, "upload blobs")
    _whole_bodies_only(call)
    loft, limits = call.loft, call.settings.tar_limits

    async def receive(pipe: Pipe) -> None:
        async for pieces in body_batches(call.request, limits.total_bytes):
            await call.in_thread(pipe.put, pieces)

    _, items = await read_while_receiving(
        lambda pipe: store_batch(loft.blobs, call.actor, pipe, limits), receive
    )
    out = BlobBatchOut(stored=[BlobOut(**vars(item)) for item in items])
    return JSONResponse(out.model_dump())


def head_blob(sha256: Sha256, call: NativeCall) -> Response:
    """200 if you may name these bytes in a commit (you uploaded them, or can read a
    dataset that holds them), else 404: send them. Bytes only others hold are a 404 too:
    knowing a digest is not owning the bytes."""
    require_full_token(call.actor, "upload blobs")
    return Response(status_code=200 if call.loft.blobs.has(call.actor, sha256) else 404)


def probe_blobs(body: BlobProbeBody, call: NativeCall) -> BlobProbeOut:
    """Which of up to 10,000 digests you must upload: those you may not name in a commit
    yet, exactly as ``HEAD /blobs/{sha256}`` answers each (bytes only others hold count as
    missing). One round trip tells a client pushing a big tree what to send."""
    require_full_token(call.actor, "upload blobs")
    return BlobProbeOut(missing=call.loft.blobs.missing(call.actor, body.sha256))


# --- the routes ------------------------------------------------------------------------------


# The single-entry writes' conditions, read by ``guard_from``.
_GUARDS = [
    {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": 'Only if the entry\'s sha256 is this ("<sha256>", as its ETag), or '
        "'*': only if it exists",
        "schema": {"type": "string"},
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "'*': only if the entry does not exist yet",
        "schema": {"type": "string", "enum": ["*"]},
    },
]
_METADATA_HEADER = {
    "name": "X-Loft-Metadata",
    "in": "header",
    "required": False,
    "description": "The file's metadata, as JSON",
    "content": {"application/json": {"schema": json_object(MAX_ENTRY_METADATA_BYTES)}},
}
_BODIES = {
    "files": {
        "description": "The file's bytes, streamed. Their Content-Type becomes the file's "
        "media type (guessed from the path when absent or uninformative)",
        "content": {"application/octet-stream": BINARY, "*/*": BINARY},
    },
    "records": {
        "description": "The record's value: JSON ({type, data} tags for Buffers, Sets, Maps, "
        "Dates) or CBOR",
        "required": True,
        "content": {"application/json": {"schema": {}}, "application/cbor": {"schema": {}}},
    },
}


def _entry_writes(noun: str, key: str) -> tuple[dict[int | str, Any], dict[int | str, Any]]:
    """The responses of PUT and DELETE of one file or record: the new version, and
    links to read (or delete) what was written."""
    singular = noun.removesuffix("s")
    at = {"owner": "$request.path.owner", "name": "$request.path.name", key: f"$request.path.{key}"}
    links = {
        f"Get{singular.title()}": link(f"get_{singular}", **at),
        f"Delete{singular.title()}": link(f"delete_{singular}", **at),
    }
    written = {
        200: {"description": "Replaced, or unchanged", "links": links},
        201: {"description": "Added", "model": WriteOut, "links": links},
        **errors(404, 409, 412),
    }
    return written, {200: {"description": "Deleted"}, **errors(404, 409, 412)}


def writes() -> APIRouter:
    """Every other route of this module. Built when the app is, after the ``anypath``
    convertor is registered (see ``dataloft.api.convertors``)."""
    router = native_router()
    for noun, (space, description) in LISTINGS.items():
        router.add_api_route(
            f"{DATASET}/{noun}",
            _listing(space),
            methods=["GET"],
            name=f"list_{noun}",
            tags=[noun],
            response_model=EntryPage,
            description=description,
            responses=errors(404),
            openapi_extra=ANONYMOUS,
        )
    for noun, key, put, delete in (
        ("files", "path", put_file, delete_file),
        ("records", "record_id", put_record, delete_record),
    ):
        tags: list[str | Enum] = [noun]
        route = f"{DATASET}/{noun}/{{{key}:anypath}}"
        put_responses, delete_responses = _entry_writes(noun, key)
        router.add_api_route(
            route,
            put,
            methods=["PUT"],
            tags=tags,
            response_model=WriteOut,
            responses=put_responses,
            openapi_extra={
                "parameters": _GUARDS + ([_METADATA_HEADER] if noun == "files" else []),
                "requestBody": _BODIES[noun],
                **ANONYMOUS,
            },
        )
        router.add_api_route(
            route,
            delete,
            methods=["DELETE"],
            tags=tags,
            response_model=WriteOut,
            responses=delete_responses,
            openapi_extra={"parameters": _GUARDS, **ANONYMOUS},
        )
    router.add_api_route(
        DATASET + "/commits",
        commit,
        methods=["POST"],
        tags=["commits"],
        status_code=201,
        response_model=CommitOut,
        responses={
            201: {
                "links": {
                    "GetVersion": link(
                        "get_version",
                        owner="$request.path.owner",
                        name="$request.path.name",
                        number="$response.body#/version/number",
                    )
                }
            },
            **errors(404, 409, 412),
        },
        openapi_extra=ANONYMOUS,
    )
    router.add_api_route(
        "/blobs/{sha256:blobname}",
        put_blob,
        methods=["PUT"],
        tags=["blobs"],
        response_model=BlobOut,
        responses={
            200: {"description": "You could already name these bytes"},
            201: {"description": "New to you", "model": BlobOut},
        },
        openapi_extra={
            "requestBody": {
                "description": "The bytes; they must hash to the sha256 in the path",
                "content": {"application/octet-stream": BINARY},
            }
        },
    )
    router.add_api_route(
        "/blobs/batch",
        put_blob_batch,
        methods=["POST"],
        tags=["blobs"],
        response_model=BlobBatchOut,
        responses=errors(400, 403, 413),
        openapi_extra={
            "requestBody": {
                "description": "A tar stream (plain, gzip, xz or bzip2) of regular files, "
                "each named by its sha256 (64 lowercase hex characters; folders ignored)",
                "required": True,
                "content": {"application/x-tar": BINARY},
            }
        },
    )
    router.add_api_route(
        "/blobs/missing",
        probe_blobs,
        methods=["POST"],
        tags=["blobs"],
        response_model=BlobProbeOut,
        responses=errors(400, 403),
    )
    router.add_api_route(
        "/blobs/{sha256:blobname}",
        head_blob,
        methods=["HEAD"],
        tags=["blobs"],
        response_class=Response,
        responses={
            200: {"description": "You may name these bytes in a commit"},
            404: {"description": "You may not: upload them"},
            **errors(403),
        },
    )
    return router
