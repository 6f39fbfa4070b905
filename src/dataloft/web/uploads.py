"""Uploading into a dataset from the browser: files and folders dropped on a dataset's
upload page travel to the server one by one through tus (resumable: paused, cut off by a
dropped connection, they go on from the byte the server has), and once every one has
arrived they become ONE commit, with the message the uploader gave.

The uploads are the native API's (``api/native/uploads.py``: the same handlers, the same
per-user uploads, the same limits), at ``/ui/-/uploads/`` and authenticated by the session
instead of a Bearer token. A session rides on a cookie, which a browser also sends with
requests that other sites make it send; so besides the pipeline's refusal of cross-site
writes (``api/csrf.py``), every request here that changes something must carry the
session's token in ``X-CSRF-Token``, which only this origin's pages can read (they print it
in the upload form).

The commit takes the body of the native API's ``POST .../commits`` (``CommitBody``): the
page names each uploaded file's path and the sha256 its upload became.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from dataloft.api.csrf import has_valid_token
from dataloft.api.errors import validation_message
from dataloft.api.native.contents import to_change
from dataloft.api.native.schemas import CommitBody
from dataloft.api.native.uploads import (
    patch_upload,
    start_upload,
    terminate_upload,
    upload_offset,
)
from dataloft.api.pipeline import Call, Routes, streaming
from dataloft.core.errors import Forbidden, Invalid, NotFound
from dataloft.core.uploads import UPLOAD_ID
from dataloft.core.values import parse_json
from dataloft.web.datasets import writer_context
from dataloft.web.render import dataset_url, page
from dataloft.web.session import STALE

COLLECTION = "/ui/-/uploads/"
# How many bytes one PATCH of the page carries: small enough that a dropped connection
# costs little and progress moves, large enough that a request's overhead is nothing.
CHUNK_BYTES = 8 * 1024 * 1024


def require_token(call: Call) -> None:
    """The session's CSRF token must come in ``X-CSRF-Token`` (``api/csrf.py``'s check,
    required here whatever the request's origin)."""
    if not has_valid_token(call.request):
        raise Forbidden(STALE)


def _upload_id(call: Call) -> str:
    upload_id = call.param("upload_id")
    if not UPLOAD_ID.fullmatch(upload_id):
        raise NotFound(f"no upload {upload_id!r}")
    return upload_id


async def create(call: Call) -> Response:
    require_token(call)
    # A path, not an absolute URL: the page resolves it against its own address, which
    # behind a proxy ending TLS is not the one this server sees (an http:// URL there
    # would be mixed content the browser refuses).
    return await start_upload(call, lambda upload_id: COLLECTION + upload_id)


def state(call: Call) -> Response:
    return upload_offset(_upload_id(call), call)


async def append(call: Call) -> Response:
    require_token(call)
    return await patch_upload(_upload_id(call), call)


def terminate(call: Call) -> Response:
    require_token(call)
    return terminate_upload(_upload_id(call), call)


def upload_page(call: Call) -> Response:
    """The page to drop files on: where they go (``?folder=``), the message, the list of
    files with their progress. Only those who may write the dataset get it."""
    context = writer_context(call)
    folder = (call.query("folder") or "").strip("/")
    context.update(
        tab="files",
        folder=folder,
        collection=COLLECTION,
        chunk_bytes=CHUNK_BYTES,
        max_size=call.loft.uploads.max_size,
    )
    return page(call, "upload.html", context)


def commit(call: Call) -> Response:
    """The uploaded files as one commit; answers the new version and its page."""
    require_token(call)
    owner, name = call.param("owner"), call.param("name")
    raw = call.read_body(call.settings.max_json_body)
    try:
        body = CommitBody.model_validate(parse_json(raw, call.settings.decode_limits))
    except ValidationError as error:
        raise Invalid(validation_message(error.errors())) from None
    result = call.loft.commits.commit(
        call.actor,
        owner,
        name,
        [to_change(op) for op in body.changes],
        parent=body.parent,
        message=body.message,
    )
    number = result.version.number
    return JSONResponse(
        {"version": number, "url": f"{dataset_url(owner, name)}?version={number}"},
        status_code=201,
    )


ROUTES: Routes = {
    COLLECTION: {"POST": streaming(create)},
    COLLECTION + "{upload_id}": {"HEAD": state, "PATCH": streaming(append), "DELETE": terminate},
    "/ui/{owner}/{name}/-/upload": {"GET": upload_page, "POST": commit},
}
