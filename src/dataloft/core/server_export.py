"""``dataloft export DIR``: a whole server (every table's rows and every blob's bytes) into
a directory, in the layout ``core/export_format.py`` describes.

Safe on a live server. The rows of all tables are read in **one read transaction**, a
consistent snapshot of the whole database (SQLite's deferred transactions are snapshots;
``Database.read`` makes PostgreSQL's REPEATABLE READ): an export holds every commit that
had committed when it began and nothing of any later one, with no version half in it.

The blobs are copied **after** the rows, for the reason backups copy blobs after the
database dump (docs/operations.md, Backups): a blob's bytes are in the store before the
transaction that records its row commits, and never change, so every blob the snapshot
names was in the store when the snapshot was taken. Each is hashed while it is copied and
kept only if it proves right. Only garbage collection removes bytes: a blob the snapshot
names that the collector took meanwhile (its dataset purged after the snapshot) cannot be
copied, and the export stops and says so; run it again, not while ``dataloft gc`` runs.

Memory stays bounded: rows stream from a cursor into the files a batch at a time, and the
blobs to copy are read back from the exported ``blobs`` table, not held.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from dataloft.core.blob_integrity import CorruptBlob, copy_verified, in_parallel
from dataloft.core.errors import Conflict, Invalid
from dataloft.core.export_format import BLOBS, TABLES, Manifest, RowCodec, exported_tables
from dataloft.db import Database
from dataloft.db.migrate import current_revision
from dataloft.db.models import Blob, table_of
from dataloft.storage import BlobMissing, BlobStore, open_blob_store

ROWS_PER_FETCH = 1000


class Meter(Protocol):
    def advance(self, count: int) -> None: ...

    def file_done(self) -> None: ...


@dataclass(frozen=True)
class StoredBlobRow:
    """A blob whose bytes are in the store, as the export's ``blobs`` table lists it."""

    digest: str
    size: int


def stored_blob_rows(directory: Path) -> Iterator[StoredBlobRow]:
    """The blobs of an export that live in its ``blobs/`` (not inline in their rows), read
    from its ``tables/blobs.jsonl`` a line at a time."""
    codec = RowCodec(table_of(Blob))
    with (directory / TABLES / "blobs.jsonl").open(encoding="utf-8") as rows:
        for line in rows:
            row = codec.decode(line)
            if row["data"] is None:
                yield StoredBlobRow(row["digest"], row["size"])


def export_store(directory: Path) -> BlobStore:
    """The blobs of an export, as the ``file://`` blob store they are laid out as."""
    return open_blob_store((directory / BLOBS).resolve().as_uri())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ServerExport:
    def __init__(self, db: Database, store: BlobStore, directory: Path, *, jobs: int = 4) -> None:
        self.db = db
        self.store = store
        self.directory = directory
        self.jobs = jobs

    def prepare(self) -> None:
        """The directory must be new or empty: an export never mixes with other files."""
        if self.directory.exists():
            if not self.directory.is_dir():
                raise Invalid(f"{self.directory} is not a directory")
            if any(self.directory.iterdir()):
                raise Invalid(f"{self.directory} is not empty: export into a new directory")
        (self.directory / TABLES).mkdir(parents=True, exist_ok=True)

    def write_rows(self) -> Manifest:
        """Every exported table's rows, from one snapshot; the manifest to be (not yet
        written: that is the last step)."""
        revision = current_revision(self.db.engine)
        if revision is None:
            raise Invalid("the database has no schema: nothing to export")
        manifest = Manifest(revision=revision, created=datetime.now(UTC).isoformat())
        with self.db.read() as session:  # one snapshot for every table
            for table in exported_tables():
                codec = RowCodec(table)
                path = self.directory / TABLES / f"{table.name}.jsonl"
                count = 0
                with path.open("w", encoding="utf-8") as out:
                    rows = session.execute(
                        select(table).order_by(*table.primary_key.columns),
                        execution_options={"yield_per": ROWS_PER_FETCH},
                    )
                    for row in rows.mappings():
                        out.write(codec.encode(row) + "\n")
                        count += 1
                        if table.name == "blobs" and row["data"] is None:
                            manifest.blob_count += 1
                            manifest.blob_bytes += row["size"]
                    out.flush()
                    os.fsync(out.fileno())
                manifest.tables[table.name] = count
        _fsync(self.directory / TABLES)
        return manifest

    def copy_blobs(self, manifest: Manifest, meter: Meter | None = None) -> None:
        """Every stored blob the rows name, into ``DIR/blobs``, each verified."""
        target = export_store(self.directory)
        advance = meter.advance if meter is not None else None

        def copy(blob: StoredBlobRow) -> None:
            try:
                if advance is None:
                    copy_verified(self.store, target, blob.digest, blob.size)
                else:
                    copy_verified(self.store, target, blob.digest, blob.size, advance)
            except BlobMissing:
                raise Conflict(self._vanished(blob.digest)) from None
            except CorruptBlob as error:
                raise Conflict(
                    f"{error}: the store's copy is damaged; 'dataloft fsck' lists what is, and "
                    "'--repair --from' restores it from a backup"
                ) from None

        for _blob, done in in_parallel(copy, stored_blob_rows(self.directory), self.jobs):
            done.result()
            if meter is not None:
                meter.file_done()
        # The store's own working directories, empty: not part of the export.
        for empty in ("tmp", "trash"):
            with suppress(OSError):
                (self.directory / BLOBS / empty).rmdir()

    def _vanished(self, digest: str) -> str:
        with self.db.read() as session:
            still = session.get(Blob, digest) is not None
        if still:
            return (
                f"blob {digest} is missing from the store although the database lists it: "
                "run 'dataloft fsck'"
            )
        return (
            f"blob {digest} was removed from the store during the export (garbage collection "
            "took it after the snapshot): export again, not while 'dataloft gc' runs"
        )

    def finish(self, manifest: Manifest) -> None:
        manifest.write(self.directory)
        _fsync(self.directory)


def summary(manifest: Manifest) -> str:
    rows = sum(manifest.tables.values())
    return (
        f"{rows} rows of {len(manifest.tables)} tables and {manifest.blob_count} blobs "
        f"({manifest.blob_bytes} bytes) at schema revision {manifest.revision}"
    )


__all__ = ["ServerExport", "StoredBlobRow", "export_store", "stored_blob_rows", "summary"]
