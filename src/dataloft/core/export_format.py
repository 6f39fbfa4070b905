"""The layout of a server export (``dataloft export`` / ``dataloft import``), shared by both
directions so that they cannot disagree.

An export is a directory::

    manifest.json              format, version, schema revision, row counts, blob totals
    tables/<table>.jsonl       every row of a table, one JSON object per line
    blobs/ab/cd/<sha256>       the bytes of every blob kept in the store (a file:// store)

``manifest.json`` is written last: a directory without it is an export that did not
finish, and ``import`` refuses it.

The tables are every table of ``Base.metadata`` but ``EXCLUDED``, so a table added to the
models is exported and imported without new code. A row is an object keyed by column
name; values are encoded by the column's type, not by guessing from the value: datetimes
as ISO 8601 with their UTC offset, bytes as base64, JSON documents as JSON, the rest
(numbers, strings, booleans, null) as themselves. Blobs small enough to live in their row
(``inline_blob_limit``) travel in ``tables/blobs.jsonl``; the others in ``blobs/``, laid
out as a ``file://`` blob store, so that ``dataloft fsck --repair --from
file:///DIR/blobs`` can restore from an export too.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, Table

from dataloft.core.errors import Invalid
from dataloft.db.models import Base
from dataloft.db.types import UTCDateTime

FORMAT = "dataloft-export"
VERSION = 1
MANIFEST = "manifest.json"
TABLES = "tables"
BLOBS = "blobs"
# Resumable uploads in progress: their rows say how many bytes of a partial file under
# the data directory are durable, and those files are not exported (a client's unfinished
# upload is not data anyone was told was saved). Left out, the clients start such uploads
# again; imported without the files, the rows would promise bytes that are not there.
EXCLUDED = frozenset({"uploads"})


def exported_tables() -> list[Table]:
    """The tables an export holds, parents before children (the order rows go in)."""
    return [table for table in Base.metadata.sorted_tables if table.name not in EXCLUDED]


@dataclass
class Manifest:
    revision: str  # the schema (Alembic) revision the rows are at
    created: str  # ISO 8601, UTC
    tables: dict[str, int] = field(default_factory=dict)  # rows per table
    blob_count: int = 0  # blobs in blobs/
    blob_bytes: int = 0
    excluded: list[str] = field(default_factory=lambda: sorted(EXCLUDED))
    format: str = FORMAT
    version: int = VERSION

    def write(self, directory: Path) -> None:
        text = json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"
        partial = directory / (MANIFEST + ".partial")
        with partial.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(directory / MANIFEST)

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            raise Invalid(
                f"{directory} holds no {MANIFEST}: not an export, or one that did not finish"
            )
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != FORMAT:
                raise Invalid(f"{path} is not a dataloft export")
            if raw.get("version") != VERSION:
                raise Invalid(
                    f"{path} is an export of format version {raw.get('version')}; this dataloft "
                    f"reads version {VERSION}"
                )
            return cls(**raw)
        except (ValueError, TypeError) as error:
            raise Invalid(f"{path} is not a readable export manifest: {error}") from None


Encode = Callable[[Any], Any]


def _iso(value: datetime) -> str:
    return value.isoformat()


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _from_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a UTC offset: {value!r}")
    return parsed


def _from_b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _same(value: Any) -> Any:
    return value


def _codecs(table: Table) -> dict[str, tuple[Encode, Encode]]:
    """Each column's (encode, decode), chosen by its type."""
    chosen: dict[str, tuple[Encode, Encode]] = {}
    for column in table.columns:
        kind = column.type
        if isinstance(kind, UTCDateTime):
            chosen[column.name] = (_iso, _from_iso)
        elif isinstance(kind, LargeBinary):
            chosen[column.name] = (_b64, _from_b64)
        else:  # JSON documents, numbers, strings, booleans: JSON already
            chosen[column.name] = (_same, _same)
    return chosen


class RowCodec:
    """A table's rows to JSON lines and back."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._codecs = _codecs(table)
        self._names = [column.name for column in table.columns]

    def encode(self, row: Mapping[Any, Any]) -> str:
        out = {}
        for name in self._names:
            value = row[name]
            out[name] = None if value is None else self._codecs[name][0](value)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))

    def decode(self, line: str) -> dict[str, Any]:
        raw = json.loads(line)
        if not isinstance(raw, dict) or set(raw) != set(self._names):
            raise ValueError(f"a row of {self.table.name} without exactly its columns")
        return {
            name: None if value is None else self._codecs[name][1](value)
            for name, value in raw.items()
        }
