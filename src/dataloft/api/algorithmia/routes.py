"""The Algorithmia Data API (``/v1/data/...``) over the core.

One endpoint takes every method on every path; the parsed path's depth (data root, owner,
collection, something inside a collection) decides what it means. Collections are datasets,
files are file entries, folders inside a collection are path prefixes, and every change is
one commit, so the native API sees each upload as a new version.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dataloft.api.algorithmia.acl import acl_metadata, parse_acl, read_acl
from dataloft.api.algorithmia.paths import DataPath, authenticate, parse_data_path
from dataloft.api.transfer import blob_response, in_thread, read_body, receive_blob
from dataloft.core.access import Action, Principal
from dataloft.core.browse import EntryRead
from dataloft.core.changes import FILES, DeleteFile, PutFile
from dataloft.core.errors import Conflict, EntryNotFound, Invalid, NotFound
from dataloft.core.loft import Loft
from dataloft.core.names import validate_path
from dataloft.core.pagination import MAX_LIMIT
from dataloft.core.tree import FolderPage

DIRECTORY = {"X-Data-Type": "directory"}
FILE = {"X-Data-Type": "file"}
# How much of a file is read to decide whether it is UTF-8 text (see _download_type).
SNIFF_BYTES = 64 * 1024
MAX_CREATE_BODY = 64 * 1024
_TEXTUAL = ("application/json", "application/xml", "application/javascript")


# --- the endpoint ----------------------------------------------------------------------------


async def data_endpoint(request: Request) -> Response:
    loft: Loft = request.app.state.loft
    actor = await in_thread(authenticate, loft, request)
    path = parse_data_path(request.path_params.get("path", ""), actor)
    handler = _HANDLERS[request.method]
    return await handler(_Call(loft, actor, request, path))


class _Call:
    """One request, parsed."""

    def __init__(self, loft: Loft, actor: Principal, request: Request, path: DataPath) -> None:
        self.loft = loft
        self.actor = actor
        self.request = request
        self.path = path

    @property
    def dataset(self) -> tuple[Principal, str, str]:
        assert self.path.owner is not None and self.path.collection is not None
        return self.actor, self.path.owner, self.path.collection

    def flag(self, name: str) -> bool:
        return self.request.query_params.get(name, "").strip().lower() in ("true", "1", "yes")


# --- reading ---------------------------------------------------------------------------------


async def get(call: _Call) -> Response:
    """A listing for directories, the bytes for files."""
    path = call.path
    if path.depth == 0:  # the client's username() takes the first folder
        return _listing_response(FolderPage([call.actor.username or ""], [], None))
    if path.depth == 1:
        return await _owner_listing(call)
    if path.depth == 3:
        found = await _find_file(call)
        if found is not None:
            return await _download(call, found)
        try:
            return await _folder_listing(call)
        except NotFound:
            raise NotFound(f"{path.uri} not found") from None  # neither file nor folder
    return await _folder_listing(call)


async def head(call: _Call) -> Response:
    path = call.path
    if path.depth == 0:
        return Response(headers=DIRECTORY)
    if path.depth == 1:
        await _check_owner(call)
        return Response(headers=DIRECTORY)
    if path.depth == 2:
        await in_thread(call.loft.datasets.get, *call.dataset)
        return Response(headers=DIRECTORY)
    found = await _find_file(call)
    if found is not None:
        return await _download(call, found)
    if await in_thread(call.loft.tree.folder_exists, *call.dataset, path.inner):
        return Response(headers=DIRECTORY)
    raise NotFound(f"{path.uri} not found")


async def _find_file(call: _Call) -> EntryRead | None:
    """The file at the path, or None when there is none (it may be a folder)."""
    try:
        found = await in_thread(call.loft.browse.get_entry, *call.dataset, FILES, call.path.inner)
    except EntryNotFound:  # the collection exists: the path may be a folder
        return None
    if found.entry.kind != "file":
        raise Invalid(f"{call.path.uri} is a symbolic link, which this API cannot serve")
    return found


async def _download(call: _Call, found: EntryRead) -> Response:
    media_type = await in_thread(_download_type, call.loft, found)
    return blob_response(call.request, call.loft.blobs, found, media_type=media_type, headers=FILE)


def _download_type(loft: Loft, found: EntryRead) -> str:
    """UTF-8 text is labelled as such, because the Python client decodes text with the
    charset it is told (and as ISO-8859-1 when told none); anything else is raw bytes.
    Only the first SNIFF_BYTES decide, so a large file costs no more than a small one."""
    assert found.blob is not None
    head = b"".join(loft.blobs.read(found.blob, 0, min(found.blob.size, SNIFF_BYTES)))
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=found.blob.size <= SNIFF_BYTES)
    except UnicodeDecodeError:
        return "application/octet-stream"
    media_type = found.entry.media_type.split(";")[0]
    textual = media_type.startswith("text/") or media_type in _TEXTUAL
    textual = textual or media_type.endswith(("+json", "+xml"))
    return f"{media_type if textual else 'text/plain'}; charset=utf-8"


async def _owner_listing(call: _Call) -> Response:
    """An owner's collections (those the caller may read), sorted by name."""
    await _check_owner(call)
    try:
        page = await in_thread(
            call.loft.datasets.list_datasets,
            call.actor,
            owner=call.path.owner,
            by_name=True,
            limit=_page_size(call),
            cursor=call.request.query_params.get("marker") or None,
        )
    except Invalid:
        raise Invalid(f"invalid marker {call.request.query_params.get('marker')!r}") from None
    names = [dataset.name for dataset in page.items]
    return _listing_response(FolderPage(names, [], page.next_cursor))


async def _check_owner(call: _Call) -> None:
    owner = call.path.owner
    if owner != call.actor.username:
        assert owner is not None
        await in_thread(call.loft.accounts.get_user, call.actor, owner)


async def _folder_listing(call: _Call) -> Response:
    page = await in_thread(
        call.loft.tree.list_folder,
        *call.dataset,
        call.path.inner,
        marker=call.request.query_params.get("marker") or None,
        limit=_page_size(call),
    )
    acl = None
    if call.flag("acl") and call.path.depth == 2:  # ACLs belong to collections
        acl = read_acl(await in_thread(call.loft.datasets.get, *call.dataset))
    return _listing_response(page, acl)


def _page_size(call: _Call) -> int:
    raw = call.request.query_params.get("limit")
    if raw is None:
        return MAX_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _listing_response(page: FolderPage, acl: list[str] | None = None) -> Response:
    """Folders, then files, then the marker only if another page follows (some clients
    loop for as long as a marker is present)."""
    body: dict[str, Any] = {}
    if page.folders:
        body["folders"] = [{"name": name} for name in page.folders]
    if page.files:
        body["files"] = [
            {"filename": f.name, "last_modified": timestamp(f.modified), "size": f.size}
            for f in page.files
        ]
    if page.marker:
        body["marker"] = page.marker
    if acl is not None:
        body["acl"] = {"read": acl}
    return JSONResponse(body, headers=DIRECTORY)


def timestamp(moment: datetime) -> str:
    """``2016-01-06T00:52:34.000Z``: what the clients parse (milliseconds, a literal Z)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# --- writing ---------------------------------------------------------------------------------


async def post(call: _Call) -> Response:
    """Create a collection under an owner, or a folder inside a collection."""
    path = call.path
    if path.depth == 0:
        raise Invalid("create collections under an owner: POST /v1/data/.my")
    name, acl = await _create_body(call.request)
    if path.depth == 1:
        read = parse_acl(acl) if acl is not None else parse_acl({"read": ["algo://.my/*"]})
        assert path.owner is not None
        await in_thread(
            call.loft.datasets.create,
            call.actor,
            path.owner,
            name,
            visibility=read.visibility,
            metadata=acl_metadata(read.read),
        )
    else:
        if acl is not None:
            parse_acl(acl)  # validated, but folders inside a collection share its ACL
        folder = f"{path.inner}/{name}" if path.inner else name
        await in_thread(call.loft.tree.make_folder, *call.dataset, folder)
    return JSONResponse({"result": f"data://{path.child(name)}"})


async def _create_body(request: Request) -> tuple[str, Any]:
    """``{"name": ..., "acl": {...}}``, or the bare name as text (the Node client)."""
    raw = await read_body(request, MAX_CREATE_BODY)
    content_type = request.headers.get("content-type", "")
    if "json" in content_type or raw.lstrip().startswith(b"{"):
        body = _json(raw)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise Invalid('expected a JSON object like {"name": "robots"}')
        name, acl = body["name"], body.get("acl")
    else:
        name, acl = raw.decode("utf-8", "replace").strip(), None
    if not name or "/" in name:
        raise Invalid(f"invalid directory name {name!r}: one path segment, not empty")
    return name, acl


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid("the body is not valid JSON") from None


async def patch(call: _Call) -> Response:
    """Change a collection's read ACL."""
    if call.path.depth != 2:
        raise Invalid("only collections have ACLs (folders inside one share its ACL)")
    body = _json(await read_body(call.request, MAX_CREATE_BODY))
    if not isinstance(body, dict) or "acl" not in body:
        raise Invalid('expected a JSON object like {"acl": {"read": ["user://*"]}}')
    read = parse_acl(body["acl"])
    changes = {"visibility": read.visibility, "metadata": acl_metadata(read.read)}
    await in_thread(call.loft.datasets.update, *call.dataset, changes)
    return Response(status_code=200)


async def put(call: _Call) -> Response:
    """Upload a file, creating or replacing it: the raw body, whatever its Content-Type."""
    path = call.path
    if path.depth != 3:
        raise Invalid(
            f"cannot write a file at {path.uri}: files go inside a collection, "
            "as <owner>/<collection>/<file>"
        )
    loft = call.loft
    validate_path(path.inner, loft.settings.max_path_length)
    await in_thread(loft.datasets.get, *call.dataset, Action.WRITE)  # before the upload
    stored = await receive_blob(call.request, loft.blobs)
    change = PutFile(path.inner, blob=stored)
    try:
        await in_thread(loft.commits.commit, *call.dataset, [change], message=f"put {path.inner}")
    except Conflict as error:  # a folder is in the way: bad input, in this API's terms
        raise Invalid(error.message) from None
    return JSONResponse({"result": path.uri})


async def delete(call: _Call) -> Response:
    """Delete a file, or a folder or collection (with its contents only if forced)."""
    path, force = call.path, call.flag("force")
    if path.depth < 2:
        raise Invalid(f"cannot delete {path.uri or 'the data root'}: not a file or directory")
    tree = call.loft.tree
    try:
        if path.depth == 2:
            deleted = await in_thread(tree.delete_collection, *call.dataset, force=force)
        elif await in_thread(tree.folder_exists, *call.dataset, path.inner):
            deleted = await in_thread(tree.delete_folder, *call.dataset, path.inner, force=force)
        else:
            change = DeleteFile(path.inner)
            message = f"delete {path.inner}"
            await in_thread(call.loft.commits.commit, *call.dataset, [change], message=message)
            deleted = 1
    except Conflict as error:
        if force:
            raise
        raise Conflict(f"{error.message}; delete with force=true to remove its contents") from None
    return JSONResponse({"result": {"deleted": deleted}})


_HANDLERS: dict[str, Callable[[_Call], Awaitable[Response]]] = {
    "GET": get,
    "HEAD": head,
    "POST": post,
    "PATCH": patch,
    "PUT": put,
    "DELETE": delete,
}
METHODS = list(_HANDLERS)
