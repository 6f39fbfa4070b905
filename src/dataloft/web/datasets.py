"""A dataset's pages: its overview (the top folder and its README), a folder at any
version, its versions and its records. Each reads one page of what it lists (keyset
paging, ``?after=``), never the whole dataset: a dataset of a million files costs a
page what one of ten does.
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.access import Action, can, require
from dataloft.core.blobs import BlobRef
from dataloft.core.changes import FILES, RECORDS
from dataloft.core.datasets import Located
from dataloft.core.errors import EntryNotFound, NotFound
from dataloft.core.loft import Loft
from dataloft.core.results import DatasetView
from dataloft.core.tags import VersionRef, parse_version_ref
from dataloft.web.markup import TEXT_PREVIEW_BYTES, decode_text, markdown
from dataloft.web.render import page

# A folder's rows a page: each costs its listing and its markup (about 9 us together), so
# the page's time and weight follow this, never the dataset's size; 100 keeps a page of a
# big folder near a small one's (bench/web_pages.py) and well under 100 KB.
FOLDER_PAGE = 100
VERSIONS_PAGE = 50
RECORDS_PAGE = 100
PICKER_VERSIONS = 30  # versions offered by the version picker (the rest by number)
README_NAMES = ("README.md", "readme.md", "Readme.md", "README.markdown", "README")
RECORD_PREVIEW_BYTES = 256 * 1024


def head_bytes(loft: Loft, blob: BlobRef, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of a blob, and whether it holds more."""
    with closing(loft.blobs.read(blob, 0, min(limit, blob.size))) as chunks:
        return b"".join(chunks), blob.size > limit


def version_param(call: Call) -> VersionRef | None:
    raw = call.query("version")
    return parse_version_ref(raw) if raw else None


@dataclass(frozen=True)
class Crumb:
    name: str
    path: str  # the folder's path in the dataset ("" for the top)


def crumbs(path: str) -> list[Crumb]:
    """``a/b/c`` -> the top, ``a``, ``a/b``, ``a/b/c``: each folder on the way."""
    parts = path.split("/") if path else []
    return [Crumb(part, "/".join(parts[: n + 1])) for n, part in enumerate(parts)]


def dataset_context(call: Call, version: VersionRef | None) -> dict[str, Any]:
    """What every page of a dataset shows: the dataset, what the caller may do to it, the
    version shown, and the versions and tags the picker offers."""
    owner, name = call.param("owner"), call.param("name")
    located = call.loft.datasets.locate(call.actor, owner, name, Action.READ)
    dataset = located.view()
    versions = call.loft.browse.list_versions(call.actor, owner, name, limit=PICKER_VERSIONS)
    tags = call.loft.tags.list(call.actor, owner, name, limit=PICKER_VERSIONS)
    return {
        "dataset": dataset,
        "located": located,
        "writer": can(call.actor, Action.WRITE, located.target),
        "admin": can(call.actor, Action.ADMIN, located.target),
        "description": markdown(dataset.description) if dataset.description else None,
        "picker": versions.items,
        "tags": tags.items,
        "asked": version,  # as the URL has it (a tag's name stays a name in links)
    }


def writer_context(call: Call) -> dict[str, Any]:
    """``dataset_context`` at the head for a page only its writers get: a reader gets the
    403 (or, for a read-only token's session, 401) the core gives, a stranger its 404."""
    context = dataset_context(call, None)
    if not context["writer"]:
        located: Located = context["located"]
        require(call.actor, Action.WRITE, located.target, f"dataset {located.address}")
    return context


def _folder(call: Call, folder: str) -> dict[str, Any]:
    """A dataset page's context with one page of ``folder``'s children at the version
    asked for (``?version=``; the head by default), from ``?after=``."""
    version = version_param(call)
    context = dataset_context(call, version)
    dataset: DatasetView = context["dataset"]
    at, listing = call.loft.tree.list_folder_at(
        call.actor,
        dataset.owner,
        dataset.name,
        folder,
        version=version,
        marker=call.query("after"),
        limit=FOLDER_PAGE,
    )
    context.update(at=at, folder=folder, crumbs=crumbs(folder), listing=listing, tab="files")
    return context


def overview(call: Call) -> Response:
    """The dataset's page: what it is, its top folder, and its README rendered."""
    context = _folder(call, "")
    readme_name, readme = readme_of(call, context["dataset"], context["at"])
    context.update(readme_name=readme_name, readme=readme)
    return page(call, "dataset.html", context)


def tree(call: Call) -> Response:
    """A folder of the dataset, at the version asked for (the head by default)."""
    return page(call, "folder.html", _folder(call, call.param("path").strip("/")))


def readme_of(call: Call, dataset: DatasetView, at: int) -> tuple[str | None, Any]:
    """The top folder's README, if it has one, rendered (its beginning, for a long one)."""
    for candidate in README_NAMES:
        try:
            found = call.loft.browse.get_entry(
                call.actor, dataset.owner, dataset.name, FILES, candidate, at
            )
        except EntryNotFound:
            continue
        if found.blob is None:  # a symlink
            continue
        data, _ = head_bytes(call.loft, found.blob, TEXT_PREVIEW_BYTES)
        return candidate, markdown(decode_text(data))
    return None, None


def versions(call: Call) -> Response:
    """The dataset's history, newest first: who, when, the message, what changed."""
    context = dataset_context(call, None)
    dataset: DatasetView = context["dataset"]
    listing = call.loft.browse.list_versions(
        call.actor, dataset.owner, dataset.name, limit=VERSIONS_PAGE, cursor=call.query("after")
    )
    context.update(listing=listing, tab="versions")
    return page(call, "versions.html", context)


def records(call: Call) -> Response:
    """The dataset's records at a version: their ids, a page at a time."""
    version = version_param(call)
    context = dataset_context(call, version)
    dataset: DatasetView = context["dataset"]
    at, listing = call.loft.browse.list_entries(
        call.actor,
        dataset.owner,
        dataset.name,
        RECORDS,
        version=version,
        limit=RECORDS_PAGE,
        cursor=call.query("after"),
    )
    context.update(at=at, listing=listing, tab="records")
    return page(call, "records.html", context)


def record(call: Call) -> Response:
    """One record's value, as JSON, its nested parts foldable."""
    version = version_param(call)
    context = dataset_context(call, version)
    dataset: DatasetView = context["dataset"]
    record_id = call.param("record")
    found = call.loft.browse.get_entry(
        call.actor, dataset.owner, dataset.name, RECORDS, record_id, version
    )
    if found.blob is None:
        raise NotFound(f"record {record_id!r} has no value")
    if found.blob.size > RECORD_PREVIEW_BYTES:
        value, too_large = None, True
    else:
        value, too_large = json.loads(call.loft.browse.record_json(found.blob)), False
    context.update(
        at=found.version, entry=found.entry, value=value, too_large=too_large, tab="records"
    )
    return page(call, "record.html", context)


ROUTES: Routes = {
    "/ui/{owner}/{name}": {"GET": overview},
    "/ui/{owner}/{name}/-/tree/{path:path}": {"GET": tree},
    "/ui/{owner}/{name}/-/versions": {"GET": versions},
    "/ui/{owner}/{name}/-/records": {"GET": records},
    "/ui/{owner}/{name}/-/record/{record:path}": {"GET": record},
}
