"""``insert_batched`` stores rows exactly as SQLAlchemy's own insert of the same rows does
(JSON, timestamps, bytes, None), on both databases, and skips rows whose key exists with
``ignore_conflicts_on``. Each test's rows are rolled back with its transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from dataloft.core.access import SYSTEM
from dataloft.core.loft import ADMIN_USERNAME, Loft
from dataloft.db.batches import SORT_RUN, in_key_order, insert_batched, insert_columns
from dataloft.db.models import Blob, Entry, table_of
from tests.support import sha, unique

BLOBS = table_of(Blob)
ENTRIES = table_of(Entry)


class _RolledBack(Exception):
    pass


def _in_rolled_back_transaction(loft: Loft, work: Callable[[Session], None]) -> None:
    with pytest.raises(_RolledBack), loft.db.write() as session:
        work(session)
        raise _RolledBack


def _stored(session: Session, table: str, key: str, values: list[str]) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (no SQLAlchemy type converts them back)."""
    listed = ", ".join(f"'{value}'" for value in values)
    query = f"SELECT * FROM {table} WHERE {key} IN ({listed}) ORDER BY {key}"
    return [tuple(row)[1:] for row in session.execute(text(query))]


def test_blob_rows_are_stored_as_sqlalchemy_stores_them(loft: Loft) -> None:
    now = datetime(2026, 12, 6, 18, 0, 0, 123456, tzinfo=UTC)
    row: dict[str, Any] = {"size": 3, "data": b"\x00\xffx", "created": now, "touched": now}
    ours, theirs = sha(unique().encode()), sha(unique().encode())

    def work(session: Session) -> None:
        session.execute(insert(BLOBS), [{"digest": theirs, **row}])
        insert_batched(session, BLOBS, [{"digest": ours, **row}])
        by_driver, by_sqlalchemy = (
            _stored(session, "blobs", "digest", [d]) for d in (ours, theirs)
        )
        assert by_driver == by_sqlalchemy
        assert session.get(Blob, ours) is not None

    _in_rolled_back_transaction(loft, work)


def test_json_and_null_columns_are_stored_as_sqlalchemy_stores_them(loft: Loft) -> None:
    dataset = loft.datasets.create(SYSTEM, ADMIN_USERNAME, unique("ds"))

    def entry(path: str, metadata: Any) -> dict[str, Any]:
        return {
            "dataset_id": dataset.id,
            "space": "f",
            "path": path,
            "kind": "symlink",
            "since": 1,
            "until": None,
            "digest": None,
            "size": 1,
            "media_type": "inode/symlink",
            "metadata": metadata,
            "target": "t",
        }

    documents = [None, {"links": ["hash://x"], "n": [1, 2.5, None, "é"]}]

    def work(session: Session) -> None:
        session.execute(insert(ENTRIES), [entry(f"sa{n}", d) for n, d in enumerate(documents)])
        insert_batched(session, ENTRIES, [entry(f"dr{n}", d) for n, d in enumerate(documents)])
        by_sqlalchemy = _stored(session, "entries", "path", ["sa0", "sa1"])
        by_driver = _stored(session, "entries", "path", ["dr0", "dr1"])
        assert [r[:2] + r[3:] for r in by_driver] == [r[:2] + r[3:] for r in by_sqlalchemy]
        read = session.scalars(
            ENTRIES.select()
            .with_only_columns(ENTRIES.c.metadata)
            .order_by(ENTRIES.c.path)
            .where(ENTRIES.c.dataset_id == dataset.id)
        ).all()
        assert read == documents + documents

    _in_rolled_back_transaction(loft, work)


def test_rows_whose_key_exists_are_skipped_when_asked(loft: Loft) -> None:
    now = datetime.now(UTC)
    digests = sorted(sha(unique().encode()) for _ in range(3))
    rows = [{"digest": d, "size": 1, "data": b"a", "created": now, "touched": now} for d in digests]

    def work(session: Session) -> None:
        insert_batched(session, BLOBS, rows[:2])
        insert_batched(session, BLOBS, rows, ignore_conflicts_on=["digest"])
        assert len(_stored(session, "blobs", "digest", digests)) == 3

    _in_rolled_back_transaction(loft, work)


def test_rows_without_a_column_that_has_a_default_are_refused(loft: Loft) -> None:
    def work(session: Session) -> None:
        with pytest.raises(ValueError, match="created"):
            insert_batched(session, BLOBS, [{"digest": sha(b"x"), "size": 1, "data": None}])

    _in_rolled_back_transaction(loft, work)


def test_rows_come_in_key_order_in_runs_merged_as_one_sort_would() -> None:
    rows = [(sha(str(n % 7_000).encode()), n) for n in range(SORT_RUN * 2 + 123)]
    assert in_key_order(rows, itemgetter(0)) == sorted(rows, key=itemgetter(0))  # ties too
    assert in_key_order(rows[:5], itemgetter(0)) == sorted(rows[:5], key=itemgetter(0))


def test_columns_are_stored_as_sqlalchemy_stores_their_rows(loft: Loft) -> None:
    """A column holding one object in every row is converted once; equal documents that
    are not the same object keep their own key order, as SQLAlchemy writes them."""
    dataset = loft.datasets.create(SYSTEM, ADMIN_USERNAME, unique("ds"))
    documents = [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "b": 2}]  # equal, not one
    columns: dict[str, list[Any]] = {
        "dataset_id": [dataset.id] * 3,
        "space": ["f"] * 3,
        "kind": ["symlink"] * 3,
        "since": [1] * 3,
        "until": [None] * 3,
        "digest": [None] * 3,
        "size": [1, 2, 3],
        "media_type": ["inode/symlink"] * 3,
        "metadata": documents,
        "target": ["t"] * 3,
    }

    def work(session: Session) -> None:
        rows = [
            {name: values[n] for name, values in columns.items()} | {"path": f"sa{n}"}
            for n in range(3)
        ]
        session.execute(insert(ENTRIES), rows)
        insert_columns(session, ENTRIES, columns | {"path": ["dr0", "dr1", "dr2"]})
        by_sqlalchemy = _stored(session, "entries", "path", ["sa0", "sa1", "sa2"])
        by_driver = _stored(session, "entries", "path", ["dr0", "dr1", "dr2"])
        assert [r[:2] + r[3:] for r in by_driver] == [r[:2] + r[3:] for r in by_sqlalchemy]

    _in_rolled_back_transaction(loft, work)


def test_a_timestamp_shared_by_every_row_is_stored_in_each(loft: Loft) -> None:
    now = datetime(2026, 12, 7, 9, 0, 0, 654321, tzinfo=UTC)
    digests = [sha(unique().encode()) for _ in range(3)]
    columns: dict[str, list[Any]] = {
        "digest": digests,
        "size": [1, 2, 3],
        "data": [b"a", b"bb", None],
        "created": [now] * 3,
        "touched": [now, datetime(2026, 12, 7, tzinfo=UTC), now],
    }

    def work(session: Session) -> None:
        insert_columns(session, BLOBS, columns)
        stored = {
            blob.digest: (blob.size, blob.data, blob.created, blob.touched)
            for blob in session.scalars(select(Blob).where(Blob.digest.in_(digests)))
        }
        assert stored == {
            d: (size, data, now, touched)
            for d, size, data, touched in zip(
                digests, [1, 2, 3], [b"a", b"bb", None], columns["touched"], strict=True
            )
        }

    _in_rolled_back_transaction(loft, work)
