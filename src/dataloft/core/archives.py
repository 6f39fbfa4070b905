"""Whole-version downloads: a dataset version as a zip, tar or tar.gz archive.

Layout: files and symlinks at their paths under ``<name>-v<N>/``. Records, whose ids may be
any string up to 10,000 characters and so cannot be file names, go to a sibling JSON Lines
file ``<name>-v<N>.records.jsonl`` (one ``{"id", "version", "sha256", "value"}`` per line,
values in tagged JSON), which can never collide with a file path.

The records are collected in a spool while the files stream, and appended last. The
archive's ``chunks`` are ``Chunks``: closing them early (a client that went away) closes
the member being read and the spool, which otherwise stay open until a garbage collection.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import IO

from dataloft.core.access import Principal
from dataloft.core.archive_formats import FORMATS, Member
from dataloft.core.blobs import BlobRef, BlobService
from dataloft.core.browse import BrowseService
from dataloft.core.errors import Invalid
from dataloft.core.results import DatasetView, EntryView
from dataloft.core.values import decode_record, to_jsonable
from dataloft.storage.chunks import Chunks, closing_iterator

SPOOL_IN_MEMORY = 8 * 1024 * 1024


@dataclass(frozen=True)
class Archive:
    dataset: DatasetView
    version: int
    filename: str
    media_type: str
    chunks: Chunks


def _no_chunks() -> Iterator[bytes]:
    return iter(())


def _spool_chunks(spool: IO[bytes]) -> Iterator[bytes]:
    """The spool's bytes from the start; the spool stays open (``_members`` owns it)."""
    spool.seek(0)
    while chunk := spool.read(1024 * 1024):
        yield chunk


def _without_empty(chunks: Chunks) -> Chunks:
    """``chunks`` minus empty ones (a zero-length chunk says nothing to the client), closing
    ``chunks`` when closed itself."""
    with closing_iterator(chunks) as inner:
        yield from filter(None, inner)


class ArchiveService:
    def __init__(self, browse: BrowseService, blobs: BlobService) -> None:
        self.browse = browse
        self.blobs = blobs

    def archive(
        self, actor: Principal, owner: str, name: str, fmt: str, version: int | None = None
    ) -> Archive:
        if fmt not in FORMATS:
            raise Invalid(f"unknown archive format {fmt!r}; use one of {', '.join(FORMATS)}")
        writer, media_type = FORMATS[fmt]
        dataset, at, entries = self.browse.iter_contents(actor, owner, name, version)
        root = f"{dataset.name}-v{at}"
        members = self._members(root, entries)
        chunks = _without_empty(writer(members))
        return Archive(dataset, at, f"{dataset.owner}-{root}.{fmt}", media_type, chunks)

    def _members(
        self, root: str, entries: Iterator[tuple[EntryView, BlobRef | None, datetime]]
    ) -> Iterator[Member]:
        """The archive's members: the files as they come, then the records' spool. The
        spool belongs to this generator: it is closed once the archive asks for the member
        after it, or when the archive closes this generator early."""
        spool: IO[bytes] | None = None
        newest = 0.0
        try:
            for entry, blob, modified in entries:
                stamp = modified.timestamp()
                if entry.kind == "record":
                    assert blob is not None
                    if spool is None:
                        # Closed in the finally below, however the archive ends.
                        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
                    spool.write(self._record_line(entry, blob))
                    newest = max(newest, stamp)
                elif entry.kind == "symlink":
                    yield Member(f"{root}/{entry.path}", 0, stamp, _no_chunks, entry.target)
                else:
                    assert blob is not None
                    path = f"{root}/{entry.path}"
                    yield Member(path, entry.size, stamp, partial(self.blobs.read, blob))
            if spool is not None:
                size = spool.tell()
                yield Member(f"{root}.records.jsonl", size, newest, partial(_spool_chunks, spool))
        finally:
            if spool is not None:
                spool.close()

    def _record_line(self, entry: EntryView, blob: BlobRef) -> bytes:
        value = decode_record(self.blobs.read_all(blob))
        line = {
            "id": entry.path,
            "version": entry.version,
            "sha256": entry.sha256,
            "value": to_jsonable(value),
        }
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
