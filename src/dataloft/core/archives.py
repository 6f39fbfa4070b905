"""Whole-version downloads: a dataset version as a zip, tar or tar.gz archive.

Layout: files and symlinks at their paths under ``<name>-v<N>/``. Records, whose ids may be
any string up to 10,000 characters and so cannot be file names, go to a sibling JSON Lines
file ``<name>-v<N>.records.jsonl`` (one ``{"id", "version", "sha256", "value"}`` per line,
values in tagged JSON), which can never collide with a file path.

Names are made portable: a path segment (or a dataset name) that Windows cannot hold as a
file name (``CON``, ``a:b``, ``trailing.``) is percent-encoded, reversibly, by
``dataloft.core.names.portable_segment``, which says why paths are encoded here rather than
refused at commit; a name too long for a file system (escapes make names longer) is
shortened (``fitting_segment``). When any path was encoded, a sibling
``<root>.paths.jsonl`` maps each such member back to its path (one ``{"name", "path"}`` per
line, ``name`` relative to the root folder), so nobody has to know the encoding to restore
the originals.

The records, and the names of encoded paths, are collected in spools while the files
stream, and appended last. The archive's ``chunks`` are ``Chunks``: closing them early (a
client that went away) closes the member being read and the spools, which otherwise stay
open until a garbage collection.
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
from dataloft.core.archive_formats import FORMATS, ArchiveWriter, Member
from dataloft.core.blobs import BlobRef, BlobService
from dataloft.core.browse import BrowseService
from dataloft.core.cbor import read_stored
from dataloft.core.changes import FILES
from dataloft.core.errors import Invalid
from dataloft.core.names import SEGMENT_MAX_BYTES, fitting_segment, portable_path
from dataloft.core.results import DatasetView, EntryView
from dataloft.core.tags import VersionRef
from dataloft.core.values import to_jsonable
from dataloft.storage.chunks import Chunks, closing_iterator

SPOOL_IN_MEMORY = 8 * 1024 * 1024
RECORDS_SUFFIX, PATHS_SUFFIX = ".records.jsonl", ".paths.jsonl"
# The root folder's name leaves room for the longest sibling named after it.
_LONGEST_SIBLING = max(RECORDS_SUFFIX, PATHS_SUFFIX, key=len)


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


def _format(fmt: str) -> tuple[ArchiveWriter, str]:
    if fmt not in FORMATS:
        raise Invalid(f"unknown archive format {fmt!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


class ArchiveService:
    def __init__(self, browse: BrowseService, blobs: BlobService) -> None:
        self.browse = browse
        self.blobs = blobs

    def archive(
        self, actor: Principal, owner: str, name: str, fmt: str, version: VersionRef | None = None
    ) -> Archive:
        writer, media_type = _format(fmt)
        dataset, at, entries = self.browse.iter_contents(actor, owner, name, version)
        root = fitting_segment(f"{dataset.name}-v{at}", SEGMENT_MAX_BYTES - len(_LONGEST_SIBLING))
        members = self._members(root, entries)
        chunks = _without_empty(writer(members))
        return Archive(dataset, at, f"{dataset.owner}-{root}.{fmt}", media_type, chunks)

    def files_only(
        self, actor: Principal, owner: str, name: str, fmt: str, filename: str
    ) -> Archive:
        """The files at the head under their own paths and nothing else: no folder around
        them, no records, no symbolic links (UFDL's downloads)."""
        writer, media_type = _format(fmt)
        dataset, at, entries = self.browse.iter_contents(actor, owner, name, space=FILES)
        members = (
            Member(entry.path, entry.size, modified.timestamp(), partial(self.blobs.read, blob))
            for entry, blob, modified in entries
            if entry.kind == "file" and blob is not None
        )
        return Archive(dataset, at, filename, media_type, _without_empty(writer(members)))

    def _members(
        self, root: str, entries: Iterator[tuple[EntryView, BlobRef | None, datetime]]
    ) -> Iterator[Member]:
        """The archive's members: the files as they come, then the records' spool and the
        spool of encoded names. The spools belong to this generator: they are closed once
        the archive asks for the member after the last, or when the archive closes this
        generator early."""
        records = _Spool(root + RECORDS_SUFFIX)
        renamed = _Spool(root + PATHS_SUFFIX)
        try:
            for entry, blob, modified in entries:
                stamp = modified.timestamp()
                if entry.kind == "record":
                    assert blob is not None
                    records.add(self._record_line(entry, blob), stamp)
                    continue
                name = portable_path(entry.path)
                if name != entry.path:
                    renamed.add(_json_line({"name": name, "path": entry.path}), stamp)
                if entry.kind == "symlink":
                    yield Member(f"{root}/{name}", 0, stamp, _no_chunks, entry.target)
                else:
                    assert blob is not None
                    read = partial(self.blobs.read, blob)
                    yield Member(f"{root}/{name}", entry.size, stamp, read)
            yield from records.member()
            yield from renamed.member()
        finally:
            records.close()
            renamed.close()

    def _record_line(self, entry: EntryView, blob: BlobRef) -> bytes:
        value = read_stored(self.blobs.read_all(blob))
        line = {
            "id": entry.path,
            "version": entry.version,
            "sha256": entry.sha256,
            "value": to_jsonable(value),
        }
        return _json_line(line)


def _json_line(value: dict[str, object]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class _Spool:
    """A JSON Lines member collected while the files stream (in memory up to
    SPOOL_IN_MEMORY bytes, then in a temporary file), appended after them if anything was
    written to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.newest = 0.0
        self._file: IO[bytes] | None = None

    def add(self, line: bytes, stamp: float) -> None:
        if self._file is None:
            # Closed by close(), which _members calls however the archive ends.
            self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._file.write(line)
        self.newest = max(self.newest, stamp)

    def member(self) -> Iterator[Member]:
        """The member, if there is one (the spool stays open: its owner closes it)."""
        if self._file is not None:
            chunks = partial(_spool_chunks, self._file)
            yield Member(self.name, self._file.tell(), self.newest, chunks)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
