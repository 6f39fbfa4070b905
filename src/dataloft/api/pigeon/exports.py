"""Pigeon Optics exports (reference §4.2-4.4), streamed record by record.

- ``export/flat-file.<ext>?at=<v>``: every record as ``{id, version, hash, data}``; with
  ``at``, records whose version is below it are stubs without ``data``, so a client that
  has version ``at - 1`` learns every id (deletions by absence) and only new values.
- ``export/archive.<ext>.zip[?attachments=true]``: ``records/<encoded id>.<ext>``, and with
  attachments ``attachments/<sha256>``, each blob once. The encoded id is the URL-encoded
  id, with what Windows cannot hold in a file name encoded further (``portable_segment``).
- ``export?encoding=cbor|json|json-lines&after=<v>|at=<v>`` and ``zip``: the older
  documented forms, ``[id, value]`` pairs (or one ``{id: value}`` object) of the records
  changed since, and ``undefined`` for those deleted since.

The flat files and the older forms are gzipped as they stream for clients that accept it
(``api/listings.py``); zip archives are not.

dataloft keeps every version, so each also takes ``?version=<n>``: export that version
instead of the head.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from dataloft.api.errors import NotAcceptable
from dataloft.api.listings import streamed_listing
from dataloft.api.pigeon.codecs import (
    CBOR,
    JSON,
    JSON_LINES,
    Codec,
    codec_for_extension,
    encode_stream,
    encode_value,
    negotiate,
)
from dataloft.api.pigeon.common import (
    answer,
    collection_path,
    dataset_url,
    source_of,
    split_spec,
)
from dataloft.api.pipeline import Call
from dataloft.api.transfer import ClosingStreamingResponse, attachment_disposition
from dataloft.core.access import Principal
from dataloft.core.archive_formats import Member, zip_stream
from dataloft.core.blobs import BlobRef
from dataloft.core.changes import RECORDS
from dataloft.core.errors import Invalid, NotFound
from dataloft.core.loft import Loft
from dataloft.core.names import portable_segment
from dataloft.core.results import DatasetView, EntryView
from dataloft.core.values import UNDEFINED

_FLAT_FILE = re.compile(r"flat-file(?:\.(\w+))?")
_ARCHIVE = re.compile(r"archive\.(\w+)\.zip")
_UNSAFE_IN_NAME = re.compile(r"[^a-zA-Z0-9_-]")
LEGACY_ENCODINGS = {"cbor": CBOR, "json": JSON, "json-lines": JSON_LINES}


@dataclass(frozen=True)
class _Source:
    """The collection an export reads, at the version it reads."""

    loft: Loft
    actor: Principal
    author: str
    name: str
    version: int | None
    kind: str  # "datasets" or "lenses"

    def records(self) -> tuple[DatasetView, int, Iterator[tuple[EntryView, BlobRef]]]:
        view, at, entries = self.loft.browse.iter_contents(
            self.actor, self.author, self.name, self.version, space=RECORDS
        )
        return view, at, ((entry, blob) for entry, blob, _ in entries if blob is not None)

    def value(self, blob: BlobRef) -> Any:
        return self.loft.browse.record_value(blob)


def _source(call: Call) -> _Source:
    author, name = split_spec(call)
    return _Source(call.loft, call.actor, author, name, call.number("version"), source_of(call))


def _download_headers(filename: str, version: int) -> dict[str, str]:
    return {"Content-Disposition": attachment_disposition(filename), "X-Version": str(version)}


def _listing(
    call: Call, chunks: Iterable[bytes], media_type: str, filename: str, version: int
) -> Response:
    """An export of records, streamed, and gzipped as it streams for clients that accept
    it: made here, never a stored file's bytes, so the content coding is ours to pick."""
    headers = _download_headers(filename, version)
    return streamed_listing(call.request, chunks, media_type=media_type, headers=headers)


def export(call: Call) -> Response:
    """``export/flat-file[.<ext>]`` and ``export/archive.<ext>.zip``."""
    which = call.param("which")
    flat, archive = _FLAT_FILE.fullmatch(which), _ARCHIVE.fullmatch(which)
    if flat is None and archive is None:
        raise NotFound("Path not Found, web address maybe incorrect")
    source = _source(call)
    if flat is not None:
        extension = flat.group(1)
        codec = codec_for_extension(extension) if extension else _accepted(call)
        if codec is None:
            raise NotAcceptable(f"no export format for {extension!r}")
        stub_below = call.number("at")
        view, at, records = source.records()
        items = _flat_items(source, records, stub_below)
        filename = f"Export {view.name}.{codec.extensions[0]}"
        return _listing(call, encode_stream(items, codec), codec.media_type, filename, at)
    assert archive is not None
    codec = codec_for_extension(archive.group(1))
    if codec is None:
        raise NotAcceptable(f"no record format for {archive.group(1)!r}")
    return _zip(call, source, {"records": codec}, f"-{codec.extensions[0]}")


def _accepted(call: Call) -> Codec:
    """The codec ``Accept`` asks for; JSON for a browser, which an export cannot be for."""
    return negotiate(call.header("accept")) or JSON


def _flat_items(
    source: _Source, records: Iterator[tuple[EntryView, BlobRef]], stub_below: int | None
) -> Iterator[dict[str, Any]]:
    for entry, blob in records:
        item: dict[str, Any] = {"id": entry.path, "version": entry.version, "hash": entry.sha256}
        if stub_below is None or entry.version >= stub_below:
            item["data"] = source.value(blob)
        yield item


def _zip(call: Call, source: _Source, folders: dict[str, Codec], suffix: str) -> StreamingResponse:
    """A streamed zip of every record, once per folder (encoded with that folder's codec),
    and with ``?attachments=true`` every attachment they link to."""
    view, at, records = source.records()
    members: Iterable[Member] = _record_members(source, view, records, folders)
    if call.query("attachments") == "true":
        linked = _attachment_members(source, view, at)
        members = itertools.chain(members, linked)
    comment = f"Archive of {collection_path(source.author, source.name, source.kind)}"
    filename = f"export-{_UNSAFE_IN_NAME.sub('_', view.name)}{suffix}.zip"
    headers = _download_headers(filename, at)
    archive = zip_stream(members, comment=comment)
    return ClosingStreamingResponse(archive, media_type="application/zip", headers=headers)


def _record_members(
    source: _Source,
    view: DatasetView,
    records: Iterator[tuple[EntryView, BlobRef]],
    folders: dict[str, Codec],
) -> Iterator[Member]:
    """Each record as a file of every folder: its id URL-encoded as the reference says
    (``encodeURIComponent``), then made a name Windows can hold as native archives' are
    (the ``*`` that encoding keeps, device names such as ``CON.json``), with escapes that
    URL-decode to the id all the same."""
    for entry, blob in records:
        value = source.value(blob)
        stem = quote(entry.path, safe="!'()*-._~")
        for folder, codec in folders.items():
            data = encode_value(value, codec)
            name = f"{folder}/{portable_segment(f'{stem}.{codec.extensions[0]}', escaped=True)}"
            yield Member(name, len(data), view.updated.timestamp(), partial(iter, [data]))


def _attachment_members(source: _Source, view: DatasetView, at: int) -> Iterator[Member]:
    """Every blob the records of the version link to, once each, as ``attachments/<hex>``."""
    read = source.loft.blobs.read
    _, linked = source.loft.attachments.of_version(source.actor, source.author, source.name, at)
    stamp = view.updated.timestamp()
    return (Member(f"attachments/{r.digest}", r.size, stamp, partial(read, r)) for r in linked)


# --- the documented older forms --------------------------------------------------------------


def legacy_export(call: Call) -> Response:
    """``export?encoding=&after=&at=``; without ``encoding``, a browser gets the list of
    export links (as the original's page) and an API client its preferred codec."""
    encoding = call.query("encoding")
    source = _source(call)
    if encoding is None and negotiate(call.header("accept")) is None:
        return answer(call, _export_links(source), f"Export {source.author}:{source.name}")
    codec = LEGACY_ENCODINGS.get(encoding or "") if encoding else _accepted(call)
    if codec is None:
        raise Invalid(f"encoding must be one of {', '.join(LEGACY_ENCODINGS)}")
    after, at = call.number("after"), call.number("at")
    if after is not None and at is not None:
        raise Invalid("give after or at, not both")
    since = after if after is not None else (at - 1 if at else None)
    view, head, records = source.records()
    gone: list[str] = []
    # A client already at (or past) the version exported has no deletions to catch up on.
    if since is not None and since < head:
        gone = _deleted_since(source, since, head)
    pairs = _changed_pairs(source, records, since, gone)
    extension = "json" if codec is JSON else codec.extensions[0]
    filename = f"Export {view.name}.{extension}"
    chunks = _json_object(pairs) if codec is JSON else (encode_value(list(p), codec) for p in pairs)
    return _listing(call, chunks, codec.media_type, filename, head)


def _export_links(source: _Source) -> dict[str, str]:
    base = dataset_url(source.author, source.name, source.kind) + "export/"
    links = {f"flat-file.{ext}": f"{base}flat-file.{ext}" for ext in ("json", "jsonl", "cbor")}
    links.update({f"archive.{ext}.zip": f"{base}archive.{ext}.zip" for ext in ("json", "cbor")})
    return links


def _deleted_since(source: _Source, since: int, head: int) -> list[str]:
    """Ids of the records present at version ``since`` and gone at ``head``."""
    items = source.loft.browse.iter_diff(source.actor, source.author, source.name, since, head)
    return [i.path for i in items if i.change == "removed" and i.kind == "record"]


def _changed_pairs(
    source: _Source,
    records: Iterator[tuple[EntryView, BlobRef]],
    since: int | None,
    gone: list[str],
) -> Iterator[tuple[str, Any]]:
    for entry, blob in records:
        if since is None or entry.version > since:
            yield entry.path, source.value(blob)
    for record_id in gone:
        yield record_id, UNDEFINED


def _json_object(pairs: Iterator[tuple[str, Any]]) -> Iterator[bytes]:
    """One JSON object ``{id: value}``, written a member at a time."""
    yield b"{"
    for index, (record_id, value) in enumerate(pairs):
        key = encode_value(record_id, JSON)
        yield (b",\n" if index else b"\n") + key + b":" + encode_value(value, JSON)
    yield b"\n}\n"


def legacy_zip(call: Call) -> Response:
    """``zip[?attachments=true]``: every record under ``json/`` and under ``cbor/``."""
    return _zip(call, _source(call), {"json": JSON, "cbor": CBOR}, "")
