"""``dataloft import DIR``: an export (``core/server_export.py``) into an empty server,
whichever database and blob store it runs on (SQLite and files to PostgreSQL and S3, say).

The order is the one every write keeps: **bytes first, rows after**.

1. Checks, before anything is written: the export is complete (its manifest is written
   last), it is at the target's schema revision, it has the target's tables, and the
   target holds no data (only what migrations and a first start seed: licences,
   domains, counters, signing keys, settings; the export's replace them).
2. Every blob of ``DIR/blobs`` is copied into the target store, hashed on the way and
   published only if it proves right. One the target holds already (an earlier attempt's)
   is read back and hashed instead, and replaced if it is wrong: publishing over it
   would keep the wrong bytes (the store Protocol).
3. Every row goes in **one transaction**, tables parents first, in batches, with the ids
   they had (so references between rows, tokens and URLs holding ids stay right); inline
   blobs are checked against their digests on the way, and each table's row count
   against the manifest. PostgreSQL's id sequences are then moved past the largest ids
   (SQLite's rowids need nothing). Any failure rolls the whole transaction back: the
   target's database is as it was, and the blobs copied in step 2 are objects without
   rows, which the next attempt uses (or ``dataloft gc --scan-store`` removes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Table, delete, exists, func, insert, select
from sqlalchemy.orm import Session

from dataloft.core.blob_integrity import (
    CorruptBlob,
    copy_verified,
    in_parallel,
    measure,
    why_corrupt,
)
from dataloft.core.errors import Conflict, Invalid
from dataloft.core.export_format import TABLES, Manifest, RowCodec, exported_tables
from dataloft.core.server_export import StoredBlobRow, export_store, stored_blob_rows
from dataloft.db import Database
from dataloft.db.migrate import current_revision
from dataloft.storage import BlobMissing, BlobStore

# Tables an empty server may hold rows in: seeded by migrations (licences, domains,
# counters) or made by a first start (signing keys, settings, login throttling). The
# export's rows replace theirs.
SEEDED = frozenset(
    {"counters", "domains", "licences", "login_failures", "server_settings", "signing_keys"}
)
ROWS_PER_INSERT = 1000


class Meter(Protocol):
    def advance(self, count: int) -> None: ...

    def file_done(self) -> None: ...


class ServerImport:
    def __init__(self, db: Database, store: BlobStore, directory: Path, *, jobs: int = 4) -> None:
        self.db = db
        self.store = store
        self.directory = directory
        self.jobs = jobs

    def check(self) -> Manifest:
        """Step 1: the export and the target fit; its manifest."""
        manifest = Manifest.read(self.directory)
        here = current_revision(self.db.engine)
        if manifest.revision != here:
            raise Invalid(
                f"the export is at schema revision {manifest.revision}, the target database at "
                f"{here}: import with the dataloft version that made the export (then upgrade)"
            )
        names = {table.name for table in exported_tables()}
        if set(manifest.tables) != names:
            raise Invalid(
                "the export's tables are not this dataloft's: "
                f"{sorted(set(manifest.tables) ^ names)}"
            )
        for name in manifest.tables:
            if not (self.directory / TABLES / f"{name}.jsonl").is_file():
                raise Invalid(f"the export has no {TABLES}/{name}.jsonl")
        with self.db.read() as session:
            for table in exported_tables():
                if table.name not in SEEDED and session.scalar(select(exists().select_from(table))):
                    raise Conflict(
                        f"the target database is not empty (table {table.name} has rows): import "
                        "into a new database, made with 'dataloft db upgrade' (not 'serve', whose "
                        "first start creates the admin account)"
                    )
        return manifest

    def copy_blobs(self, meter: Meter | None = None) -> None:
        """Step 2."""
        source = export_store(self.directory)

        def copy(blob: StoredBlobRow) -> None:
            advance = meter.advance if meter is not None else _ignore
            if self._sound_already(blob, advance):
                return
            try:
                copy_verified(source, self.store, blob.digest, blob.size, advance)
            except BlobMissing:
                raise Invalid(f"the export lacks blob {blob.digest} in its blobs/") from None
            except CorruptBlob as error:
                raise Invalid(f"the export's copy of {error}") from None

        for _blob, done in in_parallel(copy, stored_blob_rows(self.directory), self.jobs):
            done.result()
            if meter is not None:
                meter.file_done()

    def _sound_already(self, blob: StoredBlobRow, advance: Any) -> bool:
        """Whether the target holds the blob already, whole and right; wrong bytes there
        are deleted, for the copy to replace them."""
        if not self.store.exists(blob.digest):
            return False
        try:
            measured = measure(self.store, blob.digest, advance)
        except BlobMissing:
            return False
        if why_corrupt(blob.digest, blob.size, measured) is None:
            return True
        self.store.delete(blob.digest)
        return False

    def insert_rows(self, manifest: Manifest) -> None:
        """Step 3, in one transaction."""
        tables = exported_tables()
        with self.db.write() as session:
            for table in reversed(tables):
                if table.name in SEEDED:
                    session.execute(delete(table))
            for table in tables:
                count = 0
                for batch in self._batches(table):
                    session.execute(insert(table), batch)
                    count += len(batch)
                if count != manifest.tables[table.name]:
                    raise Invalid(
                        f"the export's {table.name} has {count} rows, its manifest says "
                        f"{manifest.tables[table.name]}"
                    )
            if self.db.dialect == "postgresql":
                _move_sequences(session, tables)

    def _batches(self, table: Table) -> Iterator[list[dict[str, Any]]]:
        codec = RowCodec(table)
        path = self.directory / TABLES / f"{table.name}.jsonl"
        batch: list[dict[str, Any]] = []
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    row = codec.decode(line)
                except ValueError as error:
                    raise Invalid(f"{path}, line {number}: {error}") from None
                if table.name == "blobs" and row["data"] is not None:
                    _check_inline(row)
                batch.append(row)
                if len(batch) >= ROWS_PER_INSERT:
                    yield batch
                    batch = []
        if batch:
            yield batch


def _check_inline(row: dict[str, Any]) -> None:
    data: bytes = row["data"]
    actual = hashlib.sha256(data).hexdigest()
    if actual != row["digest"] or len(data) != row["size"]:
        raise Invalid(f"the export's inline blob {row['digest']} is corrupt")


def _move_sequences(session: Session, tables: list[Table]) -> None:
    """PostgreSQL hands out ids from a sequence per serial column, which rows inserted
    with their ids do not move: each is set past the largest id, or back to the start
    for an empty table."""
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        largest = select(func.max(column)).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        session.execute(
            select(func.setval(sequence, func.coalesce(largest, 1), largest.is_not(None)))
        )


def _ignore(count: int) -> None:
    pass
