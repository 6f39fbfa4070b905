"""The Pigeon Optics record index of a dataset version: every record's ``hash``, ``links``
and ``version``, from one indexed query over its entries (``Browse.summaries``), and its
encoded bytes kept in the cache of encoded bodies (``api/body_cache.py``), which the index
(``records/``) and the dataset page (``/datasets/<author>:<name>/``, where the index is the
``records`` member) both send."""

from __future__ import annotations

import hashlib
from typing import Any

from dataloft.api.body_cache import BodyCache, gzipped
from dataloft.api.pigeon.codecs import Codec, encode_plain, html_page
from dataloft.api.pipeline import Call
from dataloft.core.access import Principal
from dataloft.core.changes import RECORDS
from dataloft.core.loft import Loft
from dataloft.core.results import DatasetView, EntrySummary, EntryView


def record_index(
    loft: Loft, actor: Principal, view: DatasetView, version: int
) -> tuple[int, dict[str, Any]]:
    """A dataset's record index at a version (one indexed query over its entries)."""
    at, entries = loft.browse.summaries(actor, view.owner, view.name, RECORDS, version)
    return at, {entry.path: record_meta(entry) for entry in entries}


def record_meta(entry: EntryView | EntrySummary) -> dict[str, Any]:
    return {"hash": entry.sha256, "links": record_links(entry), "version": entry.version}


def record_links(entry: EntryView | EntrySummary) -> list[str]:
    links: list[str] = (entry.metadata or {}).get("links", [])
    return links


def representation(view: DatasetView, codec: Codec | None, compress: bool) -> str:
    """What, besides the dataset and version, the bytes depend on: the encoding, and for
    the HTML page the dataset's address, which its title shows and a rename changes
    without a new version."""
    if codec is None:
        address = f"{view.owner}:{view.name}".encode()
        kind = "html." + hashlib.sha256(address).hexdigest()[:12]
    else:
        kind = codec.name
    return kind + ("-gzip" if compress else "")


def index_body(call: Call, view: DatasetView, codec: Codec | None, compress: bool) -> bytes:
    """The encoded index at the head, from the cache when it holds it. The key names all
    the bytes depend on, as the ``ETag`` does: the dataset (a deleted and re-created one
    has a new id), its version and the representation. The gzip form is made from the
    identity form, which is cached on the way. The caller has checked access."""
    cache: BodyCache = call.request.app.state.pigeon_indexes
    key = (view.id, view.version, representation(view, codec, compress))
    body = cache.get(key)
    if body is None:
        if compress:
            body = gzipped(index_body(call, view, codec, False))
        else:
            _, records = record_index(call.loft, call.actor, view, view.version)
            if codec is None:
                body = html_page(f"{view.owner}:{view.name} records", records)
            else:
                body = encode_plain(records, codec)
        cache.put(key, body)
    return body
