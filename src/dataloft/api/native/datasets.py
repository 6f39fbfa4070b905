"""Native API: datasets, their history, diffs and archives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
from urllib.parse import quote

from fastapi import Path, Query, Response
from starlette.responses import StreamingResponse

from dataloft.api.listings import model_listing
from dataloft.api.native.constraints import text
from dataloft.api.native.deps import NativeCall, native_router
from dataloft.api.native.openapi import ANONYMOUS, BINARY, errors, link
from dataloft.api.native.schemas import (
    DatasetCreateBody,
    DatasetPage,
    DatasetPatchBody,
    DiffOut,
    VersionPage,
)
from dataloft.api.native.version_refs import (
    VERSION_DOC,
    VERSION_REF_SCHEMA,
    VersionQuery,
    version_ref,
)
from dataloft.api.pipeline import Call
from dataloft.api.transfer import ClosingStreamingResponse, attachment_disposition
from dataloft.core.archive_formats import FORMATS
from dataloft.core.errors import NotFound, Unauthenticated
from dataloft.core.names import USERNAME_MAX
from dataloft.core.results import DatasetView, VersionView
from dataloft.core.tags import VersionRef, parse_version_ref

router = native_router(tags=["datasets"])

DATASET = "/datasets/{owner}/{name}"
# After creating a dataset, a client reads it, writes to it and lists it.
_DATASET_LINKS = {
    name: link(operation, owner="$response.body#/owner", name="$response.body#/name")
    for name, operation in (
        ("GetDataset", "get_dataset"),
        ("PutFile", "put_file"),
        ("PutRecord", "put_record"),
        ("ListFiles", "list_files"),
        ("ListVersions", "list_versions"),
    )
}


@router.post(
    "/datasets",
    status_code=201,
    response_model=DatasetView,
    responses={
        201: {"links": _DATASET_LINKS},
        **errors(404, 409),
    },
)
def create_dataset(body: DatasetCreateBody, call: NativeCall, response: Response) -> DatasetView:
    """A new, empty dataset at version 0."""
    if call.actor.username is None and body.owner is None:
        raise Unauthenticated("log in to create datasets")
    view = call.loft.datasets.create(
        call.actor,
        body.owner or call.actor.username or "",
        body.name,
        description=body.description,
        tags=body.tags,
        visibility=body.visibility,
        licence=body.licence,
        project=body.project,
        metadata=body.metadata,
    )
    response.headers["Location"] = f"/loft/v1/datasets/{quote(view.owner)}/{quote(view.name)}"
    return view


@router.get("/datasets", response_model=DatasetPage, openapi_extra=ANONYMOUS)
def list_datasets(
    call: NativeCall,
    owner: str | None = Query(None, json_schema_extra=text(USERNAME_MAX)),
    q: str | None = Query(
        None,
        description="Substring of the name, the description, the owner's name or a tag",
        json_schema_extra=text(1000),
    ),
    visibility: Literal["private", "public"] | None = None,
    deleted: bool = Query(False, description="List your soft-deleted datasets instead"),
    limit: int | None = Query(None, ge=1, le=1000),
    cursor: str | None = None,
) -> Response:
    """Datasets you may read, oldest first; follow ``next_cursor`` until it is null."""
    page = call.loft.datasets.list_datasets(
        call.actor,
        owner=owner,
        q=q,
        visibility=visibility,
        deleted=deleted,
        limit=limit,
        cursor=cursor,
    )
    return model_listing(call.request, DatasetPage(items=page.items, next_cursor=page.next_cursor))


@router.get(DATASET, response_model=DatasetView, responses=errors(404), openapi_extra=ANONYMOUS)
def get_dataset(owner: str, name: str, call: NativeCall) -> DatasetView:
    return call.loft.datasets.get(call.actor, owner, name)


@router.patch(
    DATASET, response_model=DatasetView, responses=errors(404, 409), openapi_extra=ANONYMOUS
)
def update_dataset(owner: str, name: str, body: DatasetPatchBody, call: NativeCall) -> DatasetView:
    """Change settings. ``metadata`` is a JSON merge patch (``null`` removes a key).
    ``name``, ``visibility`` and ``project`` need admin rights on the dataset."""
    return call.loft.datasets.update(
        call.actor, owner, name, body.model_dump(include=body.model_fields_set)
    )


@router.delete(DATASET, status_code=204, responses=errors(404), openapi_extra=ANONYMOUS)
def delete_dataset(
    owner: str,
    name: str,
    call: NativeCall,
    purge: bool = Query(False, description="Delete for good instead of moving to the trash"),
    uid: str | None = Query(None, description="Which deleted dataset to purge, if several"),
) -> Response:
    if purge:
        call.loft.datasets.purge(call.actor, owner, name, uid)
    else:
        call.loft.datasets.delete(call.actor, owner, name)
    return Response(status_code=204)


@router.post(
    DATASET + "/restore",
    response_model=DatasetView,
    responses=errors(404, 409),
    openapi_extra=ANONYMOUS,
)
def restore_dataset(owner: str, name: str, call: NativeCall, uid: str | None = None) -> DatasetView:
    """Undo a soft delete (the most recent one of that name, or the one with ``uid``)."""
    return call.loft.datasets.restore(call.actor, owner, name, uid)


@router.get(
    DATASET + "/versions",
    response_model=VersionPage,
    responses=errors(404),
    openapi_extra=ANONYMOUS,
)
def list_versions(
    owner: str,
    name: str,
    call: NativeCall,
    limit: int | None = Query(None, ge=1, le=1000),
    cursor: str | None = None,
) -> Response:
    """History, newest first."""
    page = call.loft.browse.list_versions(call.actor, owner, name, limit=limit, cursor=cursor)
    return model_listing(call.request, VersionPage(items=page.items, next_cursor=page.next_cursor))


@router.get(
    DATASET + "/versions/{number}",
    response_model=VersionView,
    responses=errors(404),
    openapi_extra=ANONYMOUS,
)
def get_version(
    owner: str,
    name: str,
    call: NativeCall,
    number: str = Path(description=VERSION_DOC, json_schema_extra=VERSION_REF_SCHEMA),
) -> VersionView:
    """One version, by its number or by a tag that names it."""
    if number.startswith("-") and number[1:].isascii() and number[1:].isdigit():
        # A negative number is a version that does not exist (as it was when this path
        # took integers only), not a malformed one.
        raise NotFound(f"dataset {owner}/{name} has no version {number}")
    return call.loft.browse.get_version(call.actor, owner, name, parse_version_ref(number))


@router.get(
    DATASET + "/diff",
    response_model=DiffOut,
    response_model_by_alias=True,
    responses=errors(404),
    openapi_extra=ANONYMOUS,
)
def diff(
    owner: str,
    name: str,
    call: NativeCall,
    from_version: str = Query(
        alias="from", description=VERSION_DOC, json_schema_extra=VERSION_REF_SCHEMA
    ),
    to_version: str | None = Query(
        None,
        alias="to",
        description=VERSION_DOC + "; default: the head",
        json_schema_extra=VERSION_REF_SCHEMA,
    ),
    limit: int | None = Query(None, ge=1, le=1000),
    cursor: str | None = None,
) -> Response:
    """Entries added, removed and changed between two versions, in path order."""
    old, new = parse_version_ref(from_version, "from"), version_ref(to_version, "to")
    page = call.loft.browse.diff(call.actor, owner, name, old, new, limit=limit, cursor=cursor)
    out = DiffOut(
        from_version=page.from_version,
        to_version=page.to_version,
        items=page.items,
        next_cursor=page.next_cursor,
    )
    return model_listing(call.request, out)


def _archive(fmt: str, owner: str, name: str, call: Call, version: str | None) -> StreamingResponse:
    return archive_response(call, owner, name, fmt, version_ref(version))


def archive_response(
    call: Call, owner: str, name: str, fmt: str, version: VersionRef | None
) -> StreamingResponse:
    """A version's files as a streamed archive of ``fmt``, a download (the web UI's too)."""
    archive = call.loft.archives.archive(call.actor, owner, name, fmt, version)
    headers = {
        "Content-Disposition": attachment_disposition(archive.filename),
        "X-Loft-Version": str(archive.version),
    }
    return ClosingStreamingResponse(archive.chunks, media_type=archive.media_type, headers=headers)


def _archive_route(fmt: str) -> Callable[..., StreamingResponse]:
    def archive(
        owner: str, name: str, call: NativeCall, version: VersionQuery = None
    ) -> StreamingResponse:
        return _archive(fmt, owner, name, call, version)

    return archive


_ARCHIVE_DOC = (
    "The files of a version (default: the head) as a streamed {fmt} archive under the folder "
    "``<name>-v<N>/``; records go to ``<name>-v<N>.records.jsonl`` beside it."
)


def _add_archive_routes() -> None:
    """``archive.zip``, ``archive.tar``, ``archive.tar.gz``: one route per format the core
    writes, documented with the media type it sends."""
    for fmt, (_, media_type) in FORMATS.items():
        router.add_api_route(
            f"{DATASET}/archive.{fmt}",
            _archive_route(fmt),
            methods=["GET"],
            name=f"archive_{fmt.replace('.', '_')}",
            response_class=StreamingResponse,
            description=_ARCHIVE_DOC.format(fmt=fmt),
            responses={200: {"content": {media_type: BINARY}}, **errors(404)},
            openapi_extra=ANONYMOUS,
        )


_add_archive_routes()
