"""Pigeon Optics records: the index, single records, and writes (reference §2.1-2.4).

Every write (one record, a bulk merge or overwrite) is one core commit, so the collection
``version`` goes up by exactly one per write while a record's own ``version`` (the version
in which its value appeared) moves only when its value changes. A record's ``hash`` is the
sha256 of its canonical CBOR.

A body may be sent as it is (JSON, CBOR, JSON Lines), as an HTML form, or as
``multipart/form-data`` with the body in a part named ``body`` and attachments in file
parts. A value linking an attachment the server does not hold is refused with 400
``Missing Attachments`` and the links to send in ``X-Pigeon-Optics-Resend-With-Attachments``;
nothing is saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dataloft.api.multipart import MultipartForm, Part, read_multipart
from dataloft.api.pigeon.attachments import rewrite_cids
from dataloft.api.pigeon.auth import authenticate
from dataloft.api.pigeon.codecs import JSON, Codec, codec_for_body, decode_value
from dataloft.api.pigeon.common import (
    answer,
    as_record_writer,
    form_fields,
    is_form,
    loft_of,
    method_of,
    require_record_writer,
    split_spec,
)
from dataloft.api.pigeon.datasets import snapshot
from dataloft.api.pigeon.records import bulk_entries, hash_links, is_deletion
from dataloft.api.transfer import in_thread, read_body
from dataloft.core.access import Principal
from dataloft.core.blobs import StoredBlob
from dataloft.core.changes import Change, DeleteRecord, PutRecord
from dataloft.core.errors import EntryNotFound, Invalid, MissingBlobs, NotFound
from dataloft.core.loft import Loft

RESEND_HEADER = "X-Pigeon-Optics-Resend-With-Attachments"
BODY_PART = "body"
FORM_RECORD_FIELD = "recordData"  # what the original's HTML record form sends


@dataclass
class _Write:
    """One write, ready to commit: its changes and the links each record holds."""

    changes: list[Change] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # normalised URL -> digest


# --- reading ---------------------------------------------------------------------------------


async def record_index(request: Request) -> Response:
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    method = method_of(request)
    if method in ("POST", "PUT"):
        await _write(request, loft, actor, author, name, None, overwrite=method == "PUT")
        return Response(status_code=204)
    if method not in ("GET", "HEAD"):
        raise HTTPException(
            405,
            "read, merge (POST) or replace (PUT) records",
            headers={"Allow": "GET, POST, PUT, HEAD"},
        )
    _, version, records = await in_thread(snapshot, loft, actor, author, name)
    headers = {"X-Version": str(version), "ETag": f'"{version}"'}
    return answer(request, records, f"{author}:{name} records", headers)


async def record(request: Request) -> Response:
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    record_id = request.path_params["record_id"]
    method = method_of(request)
    if method == "PUT":
        await _write(request, loft, actor, author, name, record_id, overwrite=False)
        return Response(status_code=204)
    if method == "DELETE":
        change = DeleteRecord(record_id)
        await in_thread(_commit, loft, actor, author, name, _Write([change]), f"delete {record_id}")
        return Response(status_code=204)
    if method not in ("GET", "HEAD"):
        raise HTTPException(
            405, "read, write or delete a record", headers={"Allow": "GET, PUT, DELETE, HEAD"}
        )
    try:
        found, value = await in_thread(loft.browse.read_record, actor, author, name, record_id)
    except EntryNotFound:
        raise NotFound("Record Not Found") from None
    headers = {"X-Version": str(found.entry.version), "ETag": found.entry.etag}
    return answer(request, value, f"{author}:{name}/{record_id}", headers)


# --- writing ---------------------------------------------------------------------------------


async def _write(
    request: Request,
    loft: Loft,
    actor: Principal,
    author: str,
    name: str,
    record_id: str | None,
    *,
    overwrite: bool,
) -> None:
    """Write one record (``record_id``) or a bulk body, with any attachments it carries."""
    # Who may write is settled before a byte of the body is read: strangers can neither
    # stage uploads nor learn which attachments the server holds.
    await in_thread(require_record_writer, loft, actor, author, name)
    settings = loft.settings
    limit = settings.max_json_body if record_id is None else settings.max_record_size
    form: MultipartForm | None = None
    content_type = request.headers.get("content-type", "").lower()
    try:
        if content_type.startswith("multipart/"):
            form = await read_multipart(
                request,
                loft.blobs,
                in_memory=lambda part_name, _filename: part_name == BODY_PART,
                max_body=settings.max_file_size,
                max_field_size=limit,
                max_file_size=settings.max_attachment_size,
            )
            body = _multipart_body(form, record_id)
        elif is_form(request):
            body = _form_body(await read_body(request, limit), record_id)
        else:
            body = _RawBody(await read_body(request, limit), codec_for_body(content_type))
        entries = body.entries(record_id)
        if form is not None:
            files = form.files()
            entries = [(key, rewrite_cids(value, files)) for key, value in entries]
        write = _changes(entries, overwrite=overwrite, single=record_id is not None)
        uploads = form.keep(write.links.values()) if form is not None else []
        form = None  # kept or discarded: nothing left to clean up
    finally:
        if form is not None:
            form.discard()
    message = f"write {record_id}" if record_id else _bulk_message(write, overwrite)
    await in_thread(_commit, loft, actor, author, name, write, message, overwrite, uploads)


def _bulk_message(write: _Write, overwrite: bool) -> str:
    return "overwrite records" if overwrite else f"write {len(write.changes)} records"


@dataclass(frozen=True)
class _RawBody:
    raw: bytes
    codec: Codec

    def entries(self, record_id: str | None) -> list[tuple[str, Any]]:
        if record_id is None:
            return bulk_entries(self.raw, self.codec)
        return [(record_id, decode_value(self.raw, self.codec))]


@dataclass(frozen=True)
class _DecodedBody:
    value: Any

    def entries(self, record_id: str | None) -> list[tuple[str, Any]]:
        if record_id is not None:
            return [(record_id, self.value)]
        if not isinstance(self.value, dict):
            raise Invalid("a bulk body is an object of records, or a list of entries")
        return list(self.value.items())


def _form_body(raw: bytes, record_id: str | None) -> _DecodedBody:
    """An HTML form: a record's value is the JSON text in ``recordData``; without it (and
    for bulk writes) the fields are a flat object of strings."""
    return _fields_value(form_fields(raw), record_id)


def _fields_value(fields: dict[str, Any], record_id: str | None) -> _DecodedBody:
    text = fields.get(FORM_RECORD_FIELD)
    if record_id is not None and isinstance(text, str):
        return _DecodedBody(decode_value(text.encode(), JSON))
    return _DecodedBody(fields)


def _multipart_body(form: MultipartForm, record_id: str | None) -> _RawBody | _DecodedBody:
    """The ``body`` part, decoded by its own Content-Type; without one, the other
    non-file parts make an object (strings, or decoded when their type is a codec's)."""
    bodies = [part for part in form.parts if part.name == BODY_PART]
    if len(bodies) > 1:
        raise Invalid("a multipart write carries one part named 'body'")
    if bodies:
        part = bodies[0]
        codec = codec_for_body(part.media_type) if part.media_type else JSON
        return _RawBody(bytes(part.data), codec)
    return _fields_value({part.name: _field_value(part) for part in form.fields()}, record_id)


def _field_value(part: Part) -> Any:
    if part.media_type is None or part.media_type == "text/plain":
        return bytes(part.data).decode("utf-8", "replace")
    return decode_value(bytes(part.data), codec_for_body(part.media_type))


def _changes(entries: list[tuple[str, Any]], *, overwrite: bool, single: bool) -> _Write:
    """The commit's changes. In a merge ``null`` (or ``undefined``) deletes a record; an
    overwrite refuses ``undefined``, and a single record cannot be set to either. (A record
    named twice is refused by the commit.)"""
    write = _Write()
    for record_id, value in entries:
        if is_deletion(value):
            if single:
                raise Invalid("Records cannot be set to null")
            if overwrite and value is not None:
                raise Invalid("undefined is not a value a dataset can be overwritten with")
            write.changes.append(DeleteRecord(record_id, missing_ok=True))
            continue
        links = hash_links(value)
        write.links.update(links)
        metadata = {"links": list(links)} if links else None
        change = PutRecord(record_id, value, metadata=metadata, attachments=tuple(links.values()))
        write.changes.append(change)
    return write


def _commit(
    loft: Loft,
    actor: Principal,
    author: str,
    name: str,
    write: _Write,
    message: str,
    overwrite: bool = False,
    uploads: list[StoredBlob] | None = None,
) -> None:
    try:
        with as_record_writer(actor):
            loft.commits.commit(
                actor,
                author,
                name,
                write.changes,
                message=message,
                replace_records=overwrite,
                uploads=uploads or [],
            )
    except MissingBlobs as error:
        missing = set(error.digests)
        urls = [url for url, digest in write.links.items() if digest in missing]
        resend = ", ".join(json.dumps(url) for url in urls)
        raise HTTPException(400, "Missing Attachments", headers={RESEND_HEADER: resend}) from None
