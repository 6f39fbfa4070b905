"""``PUT /api/v1/upload/{filename}``: a Pbench tarball, streamed in (sha256 and MD5 computed
while it is written, in constant memory), checked against its ``Content-MD5``, indexed
(``core/pbench_intake.py``) and made a dataset (``core/pbench_datasets.py``).

Pbench Server's checks, in its order and words: the query (``access``, and unknown keys),
a caller (401 ``Verifying user_id failed``), the ``Content-MD5`` header, the ``metadata``
parameter (all its errors at once), the file name (no path; ``.tar.xz``), the
``Content-Length`` (411), and after the body the byte count and the MD5; then a tarball
already here is a 200 ``Dataset already exists``, whoever sent it. (Pbench Server said
that before reading the body; here it waits for the bytes, so that knowing an MD5 does
not tell whether a private dataset holds it.) The tarball's own problems
(truncated, not a tar, a member named ``../x``, a symlink out of the archive, a bomb) are
a 400 or 413 naming them, and nothing is kept.

The answer is 201 with Pbench's notes and ``Location: .../datasets/<md5>/inventory/``.
The expiration note gives the default retention whatever ``server.deletion`` the client
set, as Pbench Server's does (its clients check that note); the dataset keeps the date
the client set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.errors import LengthRequired
from dataloft.api.origins import public_origin
from dataloft.api.pbench.common import metadata_errors
from dataloft.api.pbench.params import Query
from dataloft.api.pipeline import Call, Handler, streaming
from dataloft.api.transfer import declared_length, read_while_receiving, receive_blob
from dataloft.core.blobs import StoredBlob
from dataloft.core.errors import Invalid, Unauthenticated
from dataloft.core.pbench_intake import Indexed, index_tarball
from dataloft.core.pbench_metadata import (
    MetadataErrors,
    normalise_all,
    parse_upload_metadata,
    place,
)

SUFFIX = ".tar.xz"


def _access(call: Call) -> str:
    query = Query(call.request.query_params, ("access", "metadata"), ("metadata",))
    return query.access() or "private"


def _md5(call: Call) -> str:
    value = call.header("content-md5")
    if value is None:
        raise Invalid("Missing required 'Content-MD5' header")
    if not value.strip():
        raise Invalid("Missing required 'Content-MD5' header value")
    return value.strip().lower()


def _stem(filename: str) -> str:
    if "/" in filename or "\\" in filename:
        raise Invalid("Filename must not contain a path")
    if not filename.endswith(SUFFIX):
        raise Invalid(f"File extension not supported, must be {SUFFIX}")
    stem = filename[: -len(SUFFIX)]
    if not stem:
        raise Invalid("the file name must be more than its extension")
    return stem


def _location(call: Call, resource_id: str) -> dict[str, str]:
    url = f"{public_origin(call.request)}/api/v1/datasets/{resource_id}/inventory/"
    return {"Location": url}


def _sorted_metadata(
    parsed: dict[str, Any], call: Call
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool]:
    """The client's metadata, normalised, as the server, global and user documents. There
    is no dataset yet, so an error names none (Pbench's "for dataset must be a ...")."""
    settings = call.settings
    now = call.loft.clock()
    lifetime = int(call.loft.server_settings.get("dataset-lifetime"))
    documents: dict[str, Any] = {
        "server": {"deletion": f"{now + timedelta(days=settings.pbench_retention_days):%Y-%m-%d}"},
        "global": {},
        "user": {},
    }
    stored = normalise_all(parsed, dataset_name="", uploaded=now, lifetime_days=lifetime)
    place(documents, stored)  # a dataset.name is dropped: the tarball names the dataset
    server = documents["server"]
    return server, documents["global"], documents["user"], bool(server.get("archiveonly"))


async def upload(call: Call) -> Response:
    access = _access(call)
    actor = call.actor
    if actor.is_anonymous:
        raise Unauthenticated("Verifying user_id failed")
    md5 = _md5(call)
    try:
        parsed = parse_upload_metadata(call.request.query_params.getlist("metadata"))
    except MetadataErrors as errors:
        return metadata_errors(errors)
    name = _stem(call.param("filename"))
    loft = call.loft
    length = declared_length(call.request)
    if not length:
        raise LengthRequired("Missing or invalid 'Content-Length' header")
    try:  # in a thread: it reads the dataset lifetime from the database
        server, global_, user, archive_only = await call.in_thread(_sorted_metadata, parsed, call)
    except MetadataErrors as errors:
        return metadata_errors(errors)
    digest = hashlib.md5(usedforsecurity=False)
    tarball, indexed = await _receive(call, name, digest)
    _check(tarball, length, digest, md5)
    # Only now, for the bytes themselves (the possession rule): a body announced with a
    # private dataset's MD5 gets the answer any body gets, so knowing an MD5 tells
    # nothing. Pbench Server answered this before reading the body.
    if await call.in_thread(loft.pbench.known, md5):
        # Pbench names the file just sent, which may differ from the stored one's name.
        body = {"message": "Dataset already exists", "name": name, "resource_id": md5}
        return JSONResponse(body, headers=_location(call, md5))
    metadata = Metadata(access, server, global_, user, archive_only)
    return await call.in_thread(_create, call, name, md5, tarball, indexed, metadata)


def _check(received: StoredBlob, length: int, digest: Any, md5: str) -> None:
    if received.size != length:
        raise Invalid(f"Expected {length} bytes but received {received.size} bytes")
    if digest.hexdigest() != md5:
        raise Invalid(f"MD5 checksum {digest.hexdigest()} does not match expected {md5}")


async def _receive(call: Call, name: str, digest: Any) -> tuple[StoredBlob, Indexed]:
    """The body stored as a blob while a worker thread indexes it (``Pipe``): a member
    the index refuses stops the upload at once."""
    loft, limits = call.loft, call.settings.tar_limits
    return await read_while_receiving(
        lambda pipe: index_tarball(loft.blobs, pipe, name, limits),
        lambda pipe: receive_blob(call.request, loft.blobs, also=(digest,), tee=pipe.put),
    )


@dataclass(frozen=True)
class Metadata:
    """What the client asked for: the access, and its ``metadata`` by namespace."""

    access: str
    server: dict[str, Any]
    global_: dict[str, Any]
    user: dict[str, Any]
    archive_only: bool


def _create(
    call: Call, name: str, md5: str, tarball: StoredBlob, indexed: Indexed, metadata: Metadata
) -> Response:
    loft = call.loft
    notes: list[str] = []
    server, archive_only = metadata.server, metadata.archive_only
    if indexed.metalog is None:
        notes.append(f"Results archive is missing '{name}/metadata.log'.")
        archive_only = True
        server["archiveonly"] = True
    run = loft.pbench.create(
        call.actor,
        name=name,
        resource_id=md5,
        tarball=tarball,
        indexed=indexed,
        access=metadata.access,
        server=server,
        global_=metadata.global_,
        user=metadata.user,
        archive_only=archive_only,
    )
    expires = run.uploaded + timedelta(days=call.settings.pbench_retention_days)
    notes.append(f"Identified benchmark workload {run.server['benchmark']!r}.")
    notes.append(f"Expected expiration date is {expires:%Y-%m-%d}.")
    indexing = loft.server_settings.get("server-indexing")
    if archive_only or not indexing:
        notes.append("Indexing is disabled by 'archive only' setting.")
    body = {
        "message": "File successfully uploaded",
        "name": name,
        "resource_id": md5,
        "notes": notes,
    }
    return JSONResponse(body, status_code=201, headers=_location(call, md5))


ROUTES: dict[str, dict[str, Handler]] = {
    "/upload/{filename}": {"PUT": streaming(upload)},
}
