"""Pigeon Optics records: the index, single records, and writes (reference §2.1-2.4).

Every write (one record, a bulk merge or overwrite) is one core commit, so the collection
``version`` goes up by exactly one per write while a record's own ``version`` (the version
in which its value appeared) moves only when its value changes. A record's ``hash`` is the
sha256 of its canonical CBOR.

A body may be sent as it is (JSON, CBOR, JSON Lines, YAML, MessagePack), as an HTML form,
or as ``multipart/form-data`` with the body in a part named ``body`` and attachments in
file parts (``bodies.py`` reads them). A value linking an attachment the server does not
hold is refused with 400 ``Missing Attachments`` and the links to send in
``X-Pigeon-Optics-Resend-With-Attachments``; nothing is saved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.responses import Response

from dataloft.api.body_cache import accepts_gzip
from dataloft.api.errors import ProtocolError
from dataloft.api.multipart import MultipartForm, read_multipart
from dataloft.api.pigeon.attachments import cid_table
from dataloft.api.pigeon.bodies import (
    BODY_PART,
    IN_PROCESS_BYTES,
    Body,
    RawBody,
    Write,
    form_body,
    multipart_body,
    plan,
    plan_in_worker,
)
from dataloft.api.pigeon.codecs import (
    HTML_TYPE,
    Codec,
    codec_for_body,
    negotiate,
)
from dataloft.api.pigeon.common import (
    answer,
    as_record_writer,
    is_form,
    require_record_writer,
    split_spec,
)
from dataloft.api.pigeon.index import index_body, representation
from dataloft.api.pigeon.web_pages import dataset_page, for_browser, record_page
from dataloft.api.pipeline import Call
from dataloft.api.transfer import etag_matches, read_body
from dataloft.core.access import Principal
from dataloft.core.blobs import StoredBlob
from dataloft.core.changes import RECORDS, Change, DeleteRecord
from dataloft.core.errors import EntryNotFound, Invalid, MissingBlobs, NotFound
from dataloft.core.loft import Loft
from dataloft.core.results import DatasetView

RESEND_HEADER = "X-Pigeon-Optics-Resend-With-Attachments"


class MissingAttachments(ProtocolError, Invalid):
    """A 400 whose header lists the attachments to send with the retry."""


# --- reading ---------------------------------------------------------------------------------


def show_index(call: Call) -> Response:
    """The record index at the head version. The index at a version never changes, so its
    encoded bytes (and their gzip form) are cached under a key naming all they depend on
    (``index.index_body``), and ``If-None-Match`` with the version's ``ETag`` is a 304; only
    the access check, which must see every request, runs each time. Who reads does not
    change the bytes: any reader sees every record."""
    author, name = split_spec(call)
    view = call.loft.datasets.get(call.actor, author, name)
    if for_browser(call):
        return dataset_page(author, name, "records")
    codec = negotiate(call.header("accept"))
    compress = accepts_gzip(call.header("accept-encoding"))
    etag = _etag(view, codec)
    headers = {"X-Version": str(view.version), "ETag": etag, "Vary": "Accept, Accept-Encoding"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    if_none_match = call.header("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    body = index_body(call, view, codec, compress)
    return Response(body, media_type=codec.media_type if codec else HTML_TYPE, headers=headers)


def _etag(view: DatasetView, codec: Codec | None) -> str:
    """``"<version>"``, as the reference sends it, in every encoding and content coding:
    clients read it as the version, so it stays that (the index serves no ranges, where a
    tag shared by gzipped and plain bytes could mislead). The HTML page's also names the
    address its title shows, which a rename changes without a version. As in Pigeon
    Optics, a dataset deleted and made again starts its versions, and its tags, over."""
    if codec is None:
        return f'"{view.version}-{representation(view, codec, False)}"'
    return f'"{view.version}"'


def show_record(call: Call) -> Response:
    author, name = split_spec(call)
    record_id = call.param("record_id")
    page = record_page(call, author, name, record_id)
    try:
        if page is not None:  # once it is found, as the record's own answer would be
            call.loft.browse.get_entry(call.actor, author, name, RECORDS, record_id)
            return page
        found, value = call.loft.browse.read_record(call.actor, author, name, record_id)
    except EntryNotFound:
        raise NotFound("Record Not Found") from None
    headers = {"X-Version": str(found.entry.version), "ETag": found.entry.etag}
    return answer(call, value, f"{author}:{name}/{record_id}", headers)


# --- writing ---------------------------------------------------------------------------------


async def merge_records(call: Call) -> Response:
    """``POST records/``: the records in the body are written, ``null`` ones deleted."""
    await _write(call, None, overwrite=False)
    return Response(status_code=204)


async def replace_records(call: Call) -> Response:
    """``PUT records/``: the body becomes the whole set of records."""
    await _write(call, None, overwrite=True)
    return Response(status_code=204)


async def write_record(call: Call) -> Response:
    await _write(call, call.param("record_id"), overwrite=False)
    return Response(status_code=204)


def delete_record(call: Call) -> Response:
    author, name = split_spec(call)
    record_id = call.param("record_id")
    changes = [DeleteRecord(record_id)]
    _commit(call.loft, call.actor, author, name, changes, {}, f"delete {record_id}")
    return Response(status_code=204)


async def _write(call: Call, record_id: str | None, *, overwrite: bool) -> None:
    """Write one record (``record_id``) or a bulk body, with any attachments it carries."""
    loft, actor, request = call.loft, call.actor, call.request
    author, name = split_spec(call)
    # Who may write is settled before a byte of the body is read: strangers can neither
    # stage uploads nor learn which attachments the server holds.
    await call.in_thread(require_record_writer, loft, actor, author, name)
    settings = loft.settings
    limits = settings.decode_limits
    limit = settings.max_json_body if record_id is None else settings.max_record_size
    form: MultipartForm | None = None
    content_type = (call.header("content-type") or "").lower()
    try:
        if content_type.startswith("multipart/"):
            form = await read_multipart(
                request,
                loft.blobs,
                in_memory=lambda part_name, _filename: part_name == BODY_PART,
                max_body=settings.max_file_size,
                max_field_size=limit,
                max_file_size=settings.max_attachment_size,
                max_parts=settings.max_multipart_parts,
            )
            body: Body = multipart_body(form, record_id, limits)
        elif is_form(call):
            body = form_body(await read_body(request, limit), record_id, limits)
        else:
            body = RawBody(await read_body(request, limit), codec_for_body(content_type), limits)
        write = await _plan(call, body, form, record_id, overwrite=overwrite)
        uploads = await call.in_thread(form.keep, write.links.values()) if form else []
        form = None  # kept or discarded: nothing left to clean up
    finally:
        if form is not None:
            await call.in_thread(form.discard)
    message = f"write {record_id}" if record_id else _bulk_message(write, overwrite)
    await call.in_thread(
        _commit_write, loft, actor, author, name, write, message, overwrite, uploads
    )


async def _plan(
    call: Call, body: Body, form: MultipartForm | None, record_id: str | None, *, overwrite: bool
) -> Write:
    """The write's changes, worked out in a worker process for a large raw body and in a
    thread otherwise (see ``bodies``)."""
    cids = cid_table(form.files()) if form is not None else None
    if isinstance(body, RawBody) and len(body.raw) >= IN_PROCESS_BYTES:
        media_type = body.codec.media_types[0]
        packed = await call.processes.run_on_file(
            plan_in_worker, body.raw, media_type, body.limits, cids, record_id, overwrite
        )
        return await call.in_thread(packed.unpack)
    return await call.in_thread(plan, body, cids, record_id, overwrite=overwrite)


def _bulk_message(write: Write, overwrite: bool) -> str:
    return "overwrite records" if overwrite else f"write {len(write.ids)} records"


def _commit_write(
    loft: Loft,
    actor: Principal,
    author: str,
    name: str,
    write: Write,
    message: str,
    overwrite: bool,
    uploads: list[StoredBlob],
) -> None:
    """Commit ``write``, its changes made here, in the commit's thread: those of 10,000
    records are milliseconds the event loop must not spend."""
    _commit(loft, actor, author, name, write.changes(), write.links, message, overwrite, uploads)


def _commit(
    loft: Loft,
    actor: Principal,
    author: str,
    name: str,
    changes: Sequence[Change],
    links: dict[str, str],
    message: str,
    overwrite: bool = False,
    uploads: list[StoredBlob] | None = None,
) -> None:
    """Commit ``changes``; ``links`` (URL -> digest, of the records written) name the
    attachments to send again if some are missing."""
    try:
        with as_record_writer(actor):
            loft.commits.commit(
                actor,
                author,
                name,
                changes,
                message=message,
                replace_records=overwrite,
                uploads=uploads or [],
            )
    except MissingBlobs as error:
        missing = set(error.digests)
        urls = [url for url, digest in links.items() if digest in missing]
        resend = ", ".join(json.dumps(url) for url in urls)
        raise MissingAttachments("Missing Attachments", {RESEND_HEADER: resend}) from None
