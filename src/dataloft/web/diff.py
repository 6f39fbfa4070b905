"""What changed between two versions of a dataset: the entries added, removed and changed
(a page at a time), and for a changed text file, the lines that changed.

A line diff is made only where it is cheap and means something: both sides text (no NUL
in their first bytes), neither over ``LINE_DIFF_BYTES`` nor ``LINE_DIFF_LINES`` lines
(difflib's matching grows with the product of the two lengths: two files of 10,000 lines
that share none would hold a page for seconds), and at most ``LINE_DIFFS`` files a page;
the others link to both versions of the file.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.blobs import BlobRef
from dataloft.core.changes import FILES
from dataloft.core.loft import Loft
from dataloft.core.results import DatasetView, DiffItem
from dataloft.core.tags import parse_version_ref
from dataloft.web.datasets import dataset_context, head_bytes
from dataloft.web.markup import decode_text, looks_binary
from dataloft.web.render import page

DIFF_PAGE = 100
LINE_DIFFS = 20
LINE_DIFF_BYTES = 256 * 1024
LINE_DIFF_LINES = 4000
CONTEXT_LINES = 3


@dataclass(frozen=True)
class Line:
    kind: str  # "same" | "added" | "removed" | "hunk"
    text: str


@dataclass(frozen=True)
class Shown:
    item: DiffItem
    lines: list[Line] | None  # None: no line diff for this item


def line_diff(old: str, new: str) -> list[Line]:
    """The changed lines of two texts with ``CONTEXT_LINES`` around them, as a unified
    diff reads (hunk headers included)."""
    lines: list[Line] = []
    for row in difflib.unified_diff(
        old.splitlines(), new.splitlines(), lineterm="", n=CONTEXT_LINES
    ):
        if row.startswith(("---", "+++")):
            continue
        if row.startswith("@@"):
            lines.append(Line("hunk", row))
        elif row.startswith("+"):
            lines.append(Line("added", row[1:]))
        elif row.startswith("-"):
            lines.append(Line("removed", row[1:]))
        else:
            lines.append(Line("same", row[1:]))
    return lines


def _text(loft: Loft, blob: BlobRef) -> str | None:
    """A side of a line diff (no larger than ``LINE_DIFF_BYTES``, checked before)."""
    data, _ = head_bytes(loft, blob, LINE_DIFF_BYTES)
    if looks_binary(data) or data.count(b"\n") > LINE_DIFF_LINES:
        return None
    return decode_text(data)


def _lines_of(call: Call, dataset: DatasetView, item: DiffItem) -> list[Line] | None:
    """The line diff of a changed text file (see the module docstring), else None."""
    if item.change != "changed" or item.kind != "file" or item.old is None or item.new is None:
        return None
    if max(item.old.size, item.new.size) > LINE_DIFF_BYTES:
        return None
    owner, name, path = dataset.owner, dataset.name, item.path
    read = call.loft.browse.get_entry
    old = read(call.actor, owner, name, FILES, path, item.old.version).blob
    new = read(call.actor, owner, name, FILES, path, item.new.version).blob
    if old is None or new is None:
        return None
    before, after = _text(call.loft, old), _text(call.loft, new)
    if before is None or after is None:
        return None
    return line_diff(before, after)


def diff(call: Call) -> Response:
    """``?from=A&to=B`` (numbers or tags; by default the head's parent and the head)."""
    context = dataset_context(call, None)
    dataset: DatasetView = context["dataset"]
    head = dataset.version
    raw_from, raw_to = call.query("from"), call.query("to")
    old = parse_version_ref(raw_from, "from") if raw_from else max(head - 1, 0)
    new = parse_version_ref(raw_to, "to") if raw_to else head
    found = call.loft.browse.diff(
        call.actor,
        dataset.owner,
        dataset.name,
        old,
        new,
        limit=DIFF_PAGE,
        cursor=call.query("after"),
    )
    shown: list[Shown] = []
    diffs = 0
    for item in found.items:
        lines = None
        if diffs < LINE_DIFFS:
            lines = _lines_of(call, dataset, item)
            diffs += lines is not None
        shown.append(Shown(item, lines))
    context.update(
        tab="diff",
        old=found.from_version,
        new=found.to_version,
        asked_from=raw_from or str(found.from_version),
        asked_to=raw_to or str(found.to_version),
        shown=shown,
        next_cursor=found.next_cursor,
    )
    return page(call, "diff.html", context)


ROUTES: Routes = {"/ui/{owner}/{name}/-/diff": {"GET": diff}}
