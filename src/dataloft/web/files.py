"""A file's page (a preview, its details, a download) and its bytes.

**The bytes** (``/-/raw/PATH``) go out as every dialect serves user bytes
(``api/transfer.py`` ``blob_response``): ``Content-Security-Policy: sandbox`` and
``nosniff`` on every answer, and types a browser could run (HTML, SVG, XML, scripts) as
downloads, so nothing a user uploaded runs in the UI's origin. ``Range`` works, so audio
and video seek.

**Previews** show the beginning of a file, never all of it (``markup.py``'s limits):
images, audio and video from the bytes' own URL (an SVG only as an ``<img>``, where it
runs nothing); a PDF in a frame, by the browser's own viewer, from its bytes' URL, which
keeps them in the sandbox; Markdown rendered; CSV and TSV as a table of their first rows;
JSON indented; other text, HTML and SVG among it, as highlighted source.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from dataloft.api.native.datasets import archive_response
from dataloft.api.pipeline import Call, Routes
from dataloft.api.transfer import blob_response
from dataloft.core.archive_formats import FORMATS
from dataloft.core.blobs import BlobRef
from dataloft.core.changes import FILES
from dataloft.core.errors import NotFound
from dataloft.core.loft import Loft
from dataloft.core.results import DatasetView, EntryView
from dataloft.web.datasets import crumbs, dataset_context, head_bytes, version_param
from dataloft.web.markup import (
    TEXT_PREVIEW_BYTES,
    csv_table,
    decode_text,
    highlighted,
    looks_binary,
    markdown,
)
from dataloft.web.render import page

CSV_PREVIEW_BYTES = 1024 * 1024
JSON_PREVIEW_BYTES = 256 * 1024
_MARKDOWN = (".md", ".markdown", ".mdown")
_CSV = (".csv", ".tsv", ".tab")
PDF = "application/pdf"
PDF_MAGIC = b"%PDF-"


def preview_kind(entry: EntryView) -> str:
    """How a file's page shows it: image, audio, video, pdf, markdown, csv, json, text
    (which is decided by its first bytes, later) or none."""
    media = entry.media_type.split(";", 1)[0].strip().lower()
    name = entry.path.lower()
    top = media.partition("/")[0]
    if top in ("image", "audio", "video"):
        return top
    if media == PDF or name.endswith(".pdf"):
        return "pdf"
    if name.endswith(_MARKDOWN) or media == "text/markdown":
        return "markdown"
    if name.endswith(_CSV) or media in ("text/csv", "text/tab-separated-values"):
        return "csv"
    if media == "application/json" or name.endswith(".json"):
        return "json"
    return "text"


def preview(loft: Loft, entry: EntryView, blob: BlobRef) -> dict[str, Any]:
    """What the file's page shows of it (see the module docstring)."""
    kind = preview_kind(entry)
    if kind in ("image", "audio", "video"):
        return {"kind": kind}
    if kind == "pdf":
        return {"kind": "pdf" if is_pdf(loft, entry, blob) else "none"}
    if kind == "csv":
        return {
            "kind": "csv",
            "table": csv_table(*head_bytes(loft, blob, CSV_PREVIEW_BYTES), entry.path),
        }
    data, cut = head_bytes(loft, blob, TEXT_PREVIEW_BYTES)
    if looks_binary(data):
        return {"kind": "none"}
    text = decode_text(data)
    if kind == "markdown":
        return {"kind": "markdown", "html": markdown(text), "cut": cut}
    if kind == "json" and not cut and blob.size <= JSON_PREVIEW_BYTES:
        return {"kind": "text", "html": highlighted(_indented(text), "x.json"), "cut": cut}
    return {"kind": "text", "html": highlighted(text, entry.path), "cut": cut}


def is_pdf(loft: Loft, entry: EntryView, blob: BlobRef) -> bool:
    """Whether the file says it is a PDF and its bytes begin as one does: only then is it
    served for the browser's viewer to show (see ``raw``)."""
    media = entry.media_type.split(";", 1)[0].strip().lower()
    return media == PDF and head_bytes(loft, blob, len(PDF_MAGIC))[0] == PDF_MAGIC


def _indented(text: str) -> str:
    """JSON laid out two spaces a level; text that is not JSON as it is."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def file_page(call: Call) -> Response:
    version = version_param(call)
    context = dataset_context(call, version)
    dataset: DatasetView = context["dataset"]
    path = call.param("path")
    found = call.loft.browse.get_entry(
        call.actor, dataset.owner, dataset.name, FILES, path, version
    )
    folder = path.rpartition("/")[0]
    shown = (
        {"kind": "symlink"} if found.blob is None else preview(call.loft, found.entry, found.blob)
    )
    context.update(
        at=found.version,
        entry=found.entry,
        modified=found.modified,
        preview=shown,
        folder=folder,
        crumbs=crumbs(folder),
        name=path.rpartition("/")[2],
        tab="files",
    )
    return page(call, "file.html", context)


def raw(call: Call) -> Response:
    """The file's bytes, as user bytes (see the module docstring)."""
    owner, name, path = call.param("owner"), call.param("name"), call.param("path")
    found = call.loft.browse.get_entry(call.actor, owner, name, FILES, path, version_param(call))
    if found.blob is None:  # a symlink (its target, relative to its folder, is checked
        # to stay inside the dataset when it is committed): the target's bytes
        return RedirectResponse(quote(found.entry.target or "", safe="/"), status_code=307)
    # A PDF goes inline (in the sandbox, as all user bytes) for the preview's frame.
    shown = is_pdf(call.loft, found.entry, found.blob)
    # Never a redirect to the bucket: the pages' CSP loads previews from this origin only.
    return blob_response(
        call.request, call.loft.blobs, found, inline=(PDF,) if shown else (), redirect=False
    )


def archive(call: Call) -> Response:
    """A version's files (``?version=``, the head by default) as one download."""
    fmt = call.param("format")
    if fmt not in FORMATS:
        raise NotFound(f"no archive format {fmt!r}: {', '.join(FORMATS)}")
    owner, name = call.param("owner"), call.param("name")
    return archive_response(call, owner, name, fmt, version_param(call))


ROUTES: Routes = {
    "/ui/{owner}/{name}/-/blob/{path:path}": {"GET": file_page},
    "/ui/{owner}/{name}/-/raw/{path:path}": {"GET": raw},
    "/ui/{owner}/{name}/-/archive.{format}": {"GET": archive},
}
