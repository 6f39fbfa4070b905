"""Native API: files, records, multi-change commits and blob uploads."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from dataloft.api.native.deps import Actor, LoftDep, get_loft, get_principal
from dataloft.api.native.schemas import BlobOut, CommitBody, CommitOut, EntryPage, WriteOut
from dataloft.api.routing import LeanRoute  # also registers the "anypath" convertor
from dataloft.api.transfer import (
    blob_response,
    etag_matches,
    in_thread,
    quick_read,
    read_body,
    receive_blob,
)
from dataloft.core.access import Action, Principal
from dataloft.core.browse import EntryRead
from dataloft.core.changes import (
    FILES,
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
from dataloft.core.errors import Forbidden, Invalid, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.core.names import validate_digest, validate_path
from dataloft.core.values import decode_record, from_jsonable, parse_json

router = APIRouter()
# The most requested routes, served lean (see LeanRoute) and mounted before all others.
reads = APIRouter(route_class=LeanRoute)

DATASET = "/datasets/{owner}/{name}"
CBOR = "application/cbor"
# Content types that say nothing about the file (curl's default for --data-binary, ...).
_UNINFORMATIVE = {"application/x-www-form-urlencoded", "multipart/form-data", ""}

VersionQuery = Annotated[int | None, Query(ge=0, description="Default: the head")]
ParentQuery = Annotated[
    int | None, Query(ge=0, description="Fail with 412 unless the head is this version")
]
MessageQuery = Annotated[str, Query(max_length=10_000, description="Commit message")]


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


def _metadata_header(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    metadata = parse_json(value)
    if not isinstance(metadata, dict):
        raise Invalid("X-Loft-Metadata must hold a JSON object")
    return metadata


# --- reads (first: the most requested routes) ---------------------------------


@reads.api_route(
    DATASET + "/records/{record_id:anypath}",
    methods=["GET", "HEAD"],
    tags=["records"],
    response_class=Response,
)
async def get_record(
    owner: str, name: str, record_id: str, request: Request, version: VersionQuery = None
) -> Response:
    """The record's value as JSON (``{type, data}`` tags for Buffers, Sets, Maps, Dates),
    or as canonical CBOR with ``Accept: application/cbor``. ``ETag`` is the quoted sha256
    of the CBOR."""
    loft = get_loft(request)
    found = await quick_read(loft, _lookup, loft, request, owner, name, RECORDS, record_id, version)
    if _wants_cbor(request):
        return blob_response(request, loft.blobs, found, media_type=CBOR)
    headers = {"ETag": found.entry.etag, "X-Loft-Version": str(found.version)}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, found.entry.etag):
        return Response(status_code=304, headers=headers)
    assert found.blob is not None
    if found.blob.inline is not None:
        body = loft.browse.record_json(found.blob)
    else:  # up to max_record_size bytes from the blob store: not on the event loop
        body = await in_thread(loft.browse.record_json, found.blob)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, media_type="application/json", headers=headers)


@reads.api_route(
    DATASET + "/files/{path:anypath}",
    methods=["GET", "HEAD"],
    tags=["files"],
    response_class=Response,
)
async def get_file(
    owner: str, name: str, path: str, request: Request, version: VersionQuery = None
) -> Response:
    """The file's bytes. ``ETag`` is the quoted sha256; ``If-None-Match`` gives 304,
    ``Range`` gives 206."""
    loft = get_loft(request)
    found = await quick_read(loft, _lookup, loft, request, owner, name, FILES, path, version)
    if found.entry.kind == "symlink":
        return JSONResponse(
            {"path": path, "target": found.entry.target, "kind": "symlink"},
            headers={"X-Loft-Symlink": found.entry.target or ""},
        )
    return blob_response(request, loft.blobs, found)


# --- listings --------------------------------------------------------------------------------


def _add_listing(space: str, noun: str, description: str) -> None:
    def listing(
        owner: str,
        name: str,
        actor: Actor,
        loft: LoftDep,
        version: VersionQuery = None,
        prefix: str | None = None,
        limit: int | None = Query(None, ge=1, le=1000),
        cursor: str | None = None,
    ) -> EntryPage:
        at, page = loft.browse.list_entries(
            actor, owner, name, space, version=version, prefix=prefix, limit=limit, cursor=cursor
        )
        return EntryPage(version=at, items=page.items, next_cursor=page.next_cursor)

    router.add_api_route(
        f"{DATASET}/{noun}",
        listing,
        methods=["GET"],
        name=f"list_{noun}",
        tags=[noun],
        response_model=EntryPage,
        description=description,
    )


_add_listing(
    FILES,
    "files",
    "Files and symlinks at a version (default: the head), in path order, keyset-paginated. "
    "Each entry's ``version`` is the version in which its content appeared.",
)
_add_listing(
    RECORDS,
    "records",
    "Records at a version (default: the head), in id order, keyset-paginated. Each entry's "
    "``version`` is the version in which its value appeared.",
)


# --- files -----------------------------------------------------------------------------------


@router.put(DATASET + "/files/{path:anypath}", tags=["files"], response_model=WriteOut)
async def put_file(
    owner: str,
    name: str,
    path: str,
    request: Request,
    parent: ParentQuery = None,
    message: MessageQuery = "",
    x_loft_metadata: Annotated[str | None, Header(description="Entry metadata, JSON")] = None,
) -> Response:
    """Upload a file (the raw body, streamed) as one commit. The Content-Type becomes the
    file's media type (guessed from the name when absent). ``If-None-Match: *`` creates
    only; ``If-Match: "<sha256>"`` replaces only that content."""
    loft = get_loft(request)
    actor = await in_thread(get_principal, request)
    validate_path(path, loft.settings.max_path_length)
    guard = guard_from(request)
    metadata = _metadata_header(x_loft_metadata)
    await in_thread(loft.datasets.get, actor, owner, name, Action.WRITE)  # fail before upload
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    stored = await receive_blob(request, loft.blobs)
    change = PutFile(
        path,
        blob=stored,
        media_type=None if media_type in _UNINFORMATIVE else media_type,
        metadata=metadata,
        guard=guard,
    )
    result = await in_thread(_commit, loft, actor, owner, name, [change], parent, message)
    return _write_response(result, str(request.url.path))


def _commit(
    loft: Loft,
    actor: Principal,
    owner: str,
    name: str,
    changes: list[Change],
    parent: int | None,
    message: str,
) -> CommitResult:
    return loft.commits.commit(actor, owner, name, changes, parent=parent, message=message)


@router.delete(DATASET + "/files/{path:anypath}", tags=["files"], response_model=WriteOut)
def delete_file(
    owner: str,
    name: str,
    path: str,
    request: Request,
    actor: Actor,
    loft: LoftDep,
    parent: ParentQuery = None,
    message: MessageQuery = "",
) -> Response:
    change = DeleteFile(path, guard=guard_from(request))
    return _write_response(_commit(loft, actor, owner, name, [change], parent, message))


# --- records ---------------------------------------------------------------------------------


def _lookup(
    loft: Loft,
    request: Request,
    owner: str,
    name: str,
    space: str,
    key: str,
    version: int | None,
) -> EntryRead:
    with loft.reading():  # authenticate and look up on one connection
        actor = get_principal(request)
        return loft.browse.get_entry(actor, owner, name, space, key, version)


def _wants_cbor(request: Request) -> bool:
    return CBOR in request.headers.get("accept", "").lower()


@router.put(DATASET + "/records/{record_id:anypath}", tags=["records"], response_model=WriteOut)
async def put_record(
    owner: str,
    name: str,
    record_id: str,
    request: Request,
    parent: ParentQuery = None,
    message: MessageQuery = "",
) -> Response:
    """Write one record: a JSON body (``{type, data}`` tags allowed) or, with
    ``Content-Type: application/cbor``, CBOR."""
    loft = get_loft(request)
    actor = await in_thread(get_principal, request)
    raw = await read_body(request, loft.settings.max_json_body)
    # Media types are case-insensitive (RFC 9110), as for files.
    content_type = (
        request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    )
    if content_type == CBOR:
        value = decode_record(raw)
    elif content_type in ("application/json", "text/json", "") or content_type.endswith("+json"):
        value = parse_json(raw)
    else:
        raise Invalid(f"records are JSON or CBOR, not {content_type!r}")
    change = PutRecord(record_id, value, guard=guard_from(request))
    result = await in_thread(_commit, loft, actor, owner, name, [change], parent, message)
    return _write_response(result, str(request.url.path))


@router.delete(DATASET + "/records/{record_id:anypath}", tags=["records"], response_model=WriteOut)
def delete_record(
    owner: str,
    name: str,
    record_id: str,
    request: Request,
    actor: Actor,
    loft: LoftDep,
    parent: ParentQuery = None,
    message: MessageQuery = "",
) -> Response:
    change = DeleteRecord(record_id, guard=guard_from(request))
    return _write_response(_commit(loft, actor, owner, name, [change], parent, message))


# --- commits ---------------------------------------------------------------------------------


def _to_change(op: Any) -> Change:
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


@router.post(DATASET + "/commits", tags=["commits"], status_code=201, response_model=CommitOut)
def commit(owner: str, name: str, body: CommitBody, actor: Actor, loft: LoftDep) -> CommitOut:
    """Apply many changes as one new version. Upload file contents first with
    ``PUT /loft/v1/blobs/{sha256}`` (``HEAD`` tells whether the server already has them),
    then reference them by sha256 here."""
    changes = [_to_change(op) for op in body.changes]
    result = loft.commits.commit(
        actor, owner, name, changes, parent=body.parent, message=body.message
    )
    return CommitOut(version=result.version, outcomes=result.outcomes)


# --- blobs -----------------------------------------------------------------------------------


def _uploader(request: Request) -> None:
    actor = get_principal(request)
    if actor.is_anonymous:
        raise Unauthenticated("log in to upload blobs")
    if actor.scope is not None:
        raise Forbidden("this token may only read")


@router.put("/blobs/{sha256}", tags=["blobs"], response_model=BlobOut)
async def put_blob(sha256: str, request: Request) -> Response:
    """Upload bytes whose sha256 you announce; a mismatch is a 400 and nothing is kept.
    201 when the blob is new to the server, 200 when it already had it."""
    loft = get_loft(request)
    await in_thread(_uploader, request)
    validate_digest(sha256)
    stored = await receive_blob(request, loft.blobs, expected=sha256)
    created = await in_thread(loft.blobs.save, stored)
    body = BlobOut(sha256=stored.digest, size=stored.size, created=created)
    return JSONResponse(body.model_dump(), status_code=201 if created else 200)


@router.head("/blobs/{sha256}", tags=["blobs"])
def head_blob(sha256: str, request: Request, loft: LoftDep) -> Response:
    """200 if the server has these bytes (send only what it lacks), else 404."""
    _uploader(request)
    return Response(status_code=200 if loft.blobs.has(sha256) else 404)
