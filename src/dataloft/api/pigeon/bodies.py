"""Pigeon Optics record write bodies: their shapes, and the changes they make.

A write's body arrives as it is (JSON, CBOR, JSON Lines, YAML, MessagePack), as an HTML
form, or as the ``body`` part of a multipart form (``records.py`` reads it). ``plan``
turns it into the commit's changes: records to put, each already encoded as canonical CBOR,
records to delete, and the attachment links each record holds.

Decoding and encoding a large body is seconds of work for the interpreter, some of it in
C functions that hold the interpreter lock throughout (``json.loads`` of 20 MiB holds it for
half a second): in a thread of the server's process that would stall every other request.
So a large raw body is planned in a worker process (``plan_in_worker``), which sends the
result back as a ``PackedWrite``: a few flat buffers instead of a list of 100,000 small
objects, whose unpickling alone would hold the lock for a tenth of a second.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, chain
from pathlib import Path
from typing import Any

from dataloft.api.forms import form_fields
from dataloft.api.multipart import MultipartForm, Part
from dataloft.api.pigeon.attachments import rewrite_cids
from dataloft.api.pigeon.codecs import (
    JSON,
    Codec,
    codec_for_body,
    decode_items,
    decode_value,
)
from dataloft.api.pigeon.links import hash_links
from dataloft.core.cbor import encode_record
from dataloft.core.changes import NO_GUARD, DeleteRecord, PutRecord
from dataloft.core.decoding import DecodeLimits
from dataloft.core.errors import Invalid
from dataloft.core.values import UNDEFINED

BODY_PART = "body"
FORM_RECORD_FIELD = "recordData"  # what the original's HTML record form sends
# Raw bodies at least this large are planned in a worker process (see the docstring).
IN_PROCESS_BYTES = 1024 * 1024
_STRINGS = frozenset({str})


# --- shapes ----------------------------------------------------------------------------------


def bulk_entries(raw: bytes, codec: Codec, limits: DecodeLimits) -> list[tuple[str, Any]]:
    """``(record id, value)`` pairs from a bulk body: an object map ``{recordID: value}``,
    or a list of entries, each an ``[id, value]`` pair or an ``{"id", "data"}`` object. In
    JSON (and in a YAML body of one document) the list is an array; in JSON Lines, CBOR,
    MessagePack (and YAML of several documents) the entries are the stream's items.

    A stream of exactly one map is ambiguous: one entry, or an object map? It is read as
    one ``{id, data}`` entry when its keys are exactly ``"id"`` and ``"data"`` and its
    ``"id"`` is a string (as the same entry alone in JSON Lines always was); any other
    single map is an object map. (To write records named ``id`` and ``data`` from one map,
    send pairs instead.)"""
    items = list(decode_items(raw, codec, limits))
    if codec.framing == "document" or (codec.framing == "documents" and len(items) == 1):
        body = items[0] if items else None
        if isinstance(body, dict):
            return _object_map(body)
        if not isinstance(body, list):
            raise Invalid("a bulk body is an object of records, or a list of entries")
        items = body
    elif len(items) == 1 and _is_object_map(items[0]):
        return _object_map(items[0])
    return [_entry(item, index) for index, item in enumerate(items)]


def _object_map(body: dict[Any, Any]) -> list[tuple[str, Any]]:
    """The entries of an object map, whose keys must all be record ids (strings)."""
    if _STRINGS.issuperset(map(type, body)):  # all of them, in C (JSON's always)
        return list(body.items())
    return [(_record_id(k), v) for k, v in body.items()]


def _is_object_map(item: Any) -> bool:
    """Whether a lone item of a stream is an object map: a map, not one {id, data} entry."""
    if not isinstance(item, dict):
        return False
    return not (set(item) == {"id", "data"} and isinstance(item["id"], str))


def _entry(item: Any, index: int) -> tuple[str, Any]:
    if isinstance(item, list) and len(item) == 2:
        return _record_id(item[0]), item[1]
    if isinstance(item, dict) and set(item) == {"id", "data"}:
        return _record_id(item["id"]), item["data"]
    raise Invalid(
        f"entry {index} must be an [id, value] pair or an object with exactly 'id' and 'data'"
    )


def _record_id(key: Any) -> str:
    if not isinstance(key, str):
        raise Invalid(f"record ids are strings, not {type(key).__name__}")
    return key


def is_deletion(value: Any) -> bool:
    """In a merge, ``null`` and ``undefined`` delete the record."""
    return value is None or value is UNDEFINED


@dataclass(frozen=True)
class RawBody:
    """Bytes in one of the codecs, and the limits to decode them within."""

    raw: bytes
    codec: Codec
    limits: DecodeLimits

    def entries(self, record_id: str | None) -> list[tuple[str, Any]]:
        if record_id is None:
            return bulk_entries(self.raw, self.codec, self.limits)
        return [(record_id, decode_value(self.raw, self.codec, self.limits))]


@dataclass(frozen=True)
class DecodedBody:
    """A value already decoded (an HTML form's fields)."""

    value: Any

    def entries(self, record_id: str | None) -> list[tuple[str, Any]]:
        if record_id is not None:
            return [(record_id, self.value)]
        if not isinstance(self.value, dict):
            raise Invalid("a bulk body is an object of records, or a list of entries")
        return list(self.value.items())


Body = RawBody | DecodedBody


def form_body(raw: bytes, record_id: str | None, limits: DecodeLimits) -> DecodedBody:
    """An HTML form: a record's value is the JSON text in ``recordData``; without it (and
    for bulk writes) the fields are a flat object of strings."""
    return _fields_value(form_fields(raw, limits), record_id, limits)


def _fields_value(
    fields: dict[str, Any], record_id: str | None, limits: DecodeLimits
) -> DecodedBody:
    text = fields.get(FORM_RECORD_FIELD)
    if record_id is not None and isinstance(text, str):
        return DecodedBody(decode_value(text.encode(), JSON, limits))
    return DecodedBody(fields)


def multipart_body(form: MultipartForm, record_id: str | None, limits: DecodeLimits) -> Body:
    """The ``body`` part, decoded by its own Content-Type; without one, the other
    non-file parts make an object (strings, or decoded when their type is a codec's)."""
    bodies = [part for part in form.parts if part.name == BODY_PART]
    if len(bodies) > 1:
        raise Invalid("a multipart write carries one part named 'body'")
    if bodies:
        part = bodies[0]
        codec = codec_for_body(part.media_type) if part.media_type else JSON
        return RawBody(bytes(part.data), codec, limits)
    fields = {part.name: _field_value(part, limits) for part in form.fields()}
    return _fields_value(fields, record_id, limits)


def _field_value(part: Part, limits: DecodeLimits) -> Any:
    if part.media_type is None or part.media_type == "text/plain":
        return bytes(part.data).decode("utf-8", "replace")
    return decode_value(bytes(part.data), codec_for_body(part.media_type), limits)


# --- changes ---------------------------------------------------------------------------------


@dataclass
class Write:
    """One write, ready to commit: its records a column at a time (ids, and each put's
    value as canonical CBOR or None for a deletion), and the links the few records that
    hold any hold. Columns, not a change object per record: a bulk write of 10,000 records
    made each of those twice (here, and again from a worker's ``PackedWrite``), 35 ms in
    all, where the commit needs them once."""

    ids: list[str] = field(default_factory=list)
    encoded: list[bytes | None] = field(default_factory=list)
    held: dict[int, dict[str, str]] = field(default_factory=dict)  # index -> URL -> digest

    def put(self, key: str, encoded: bytes, links: dict[str, str]) -> None:
        """Add a record to put: its value encoded, and the links it holds (URL -> digest),
        which its entry keeps in its metadata and its attachments."""
        if links:
            self.held[len(self.ids)] = links
        self.ids.append(key)
        self.encoded.append(encoded)

    def delete(self, key: str) -> None:
        """Add a record to delete, if it exists (a merge's ``null``)."""
        self.ids.append(key)
        self.encoded.append(None)

    @property
    def links(self) -> dict[str, str]:
        """Every link the write's records hold: normalised URL -> digest."""
        return {url: digest for links in self.held.values() for url, digest in links.items()}

    def changes(self) -> list[PutRecord | DeleteRecord]:
        """The commit's changes, in the order of the body."""
        held = self.held
        return [
            DeleteRecord(key, missing_ok=True)
            if encoded is None
            else _put(key, encoded, held.get(index))
            for index, (key, encoded) in enumerate(zip(self.ids, self.encoded, strict=True))
        ]


def _put(key: str, encoded: bytes, links: dict[str, str] | None) -> PutRecord:
    if links is None:  # the common case, positionally: value, metadata, guard, attachments
        return PutRecord(key, None, None, NO_GUARD, (), encoded)
    return PutRecord(
        key,
        None,
        metadata={"links": list(links)},
        attachments=tuple(links.values()),
        encoded=encoded,
    )


def plan(
    body: Body, cids: dict[str, str] | None, record_id: str | None, *, overwrite: bool
) -> Write:
    """The commit's changes for a body (a single record's with ``record_id``, else a bulk
    body's); ``cids`` maps the ``cid:`` names of a multipart write's files to their links.
    In a merge ``null`` (or ``undefined``) deletes a record; an overwrite refuses
    ``undefined``, and a single record cannot be set to either. (A record named twice is
    refused by the commit.)"""
    write = Write()
    for key, decoded in body.entries(record_id):
        value = rewrite_cids(decoded, cids) if cids is not None else decoded
        if is_deletion(value):
            if record_id is not None:
                raise Invalid("Records cannot be set to null")
            if overwrite and value is not None:
                raise Invalid("undefined is not a value a dataset can be overwritten with")
            write.delete(key)
            continue
        encoded = encode_record(value)
        write.put(key, encoded, hash_links(value, encoded))
    return write


def plan_in_worker(
    path: str,
    media_type: str,
    limits: DecodeLimits,
    cids: dict[str, str] | None,
    record_id: str | None,
    overwrite: bool,
) -> PackedWrite:
    """``plan`` for a raw body in the file at ``path``, run in a worker process: what it
    sends back."""
    body = RawBody(Path(path).read_bytes(), codec_for_body(media_type), limits)
    return PackedWrite.of(plan(body, cids, record_id, overwrite=overwrite))


@dataclass(frozen=True)
class PackedWrite:
    """A ``Write`` as flat buffers (see the module docstring): the record ids and the
    encoded values back to back, with where each ends."""

    ids: bytes
    id_ends: array[int]
    values: bytes  # the encoded value of each put; nothing for a deletion
    value_ends: array[int]
    deleted: bytes  # per record: 1 for a deletion, 0 for a put
    held: dict[int, dict[str, str]]  # by index, for the few records with links

    @classmethod
    def of(cls, write: Write) -> PackedWrite:
        # Record ids may hold lone surrogates (JSON can spell them); validation refuses
        # them later, with the same message as for any write.
        ids = [key.encode("utf-8", "surrogatepass") for key in write.ids]
        values = [b"" if encoded is None else encoded for encoded in write.encoded]
        return cls(
            b"".join(ids),
            array("Q", accumulate(map(len, ids))),
            b"".join(values),
            array("Q", accumulate(map(len, values))),
            bytes(encoded is None for encoded in write.encoded),
            write.held,
        )

    def unpack(self) -> Write:
        if self.ids.isascii():  # decoded once: its characters are where its bytes are
            text = self.ids.decode("ascii")
            ids = [text[start:end] for start, end in _spans(self.id_ends)]
        else:
            ids = [
                self.ids[start:end].decode("utf-8", "surrogatepass")
                for start, end in _spans(self.id_ends)
            ]
        values = self.values
        encoded = [
            None if deleted else values[start:end]
            for deleted, (start, end) in zip(self.deleted, _spans(self.value_ends), strict=True)
        ]
        return Write(ids, encoded, self.held)


def _spans(ends: array[int]) -> Iterator[tuple[int, int]]:
    """(start, end) of each piece of a buffer, given where each ends."""
    # The starts have one more item (the end of the last piece): zip stops at the ends'.
    return zip(chain((0,), ends), ends, strict=False)
