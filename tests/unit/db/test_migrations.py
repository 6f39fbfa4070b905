"""Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from dataloft.db import Database
from dataloft.db.migrate import current_revision, head_revision, upgrade
from dataloft.db.models import (
    Base,
    Blob,
    Counter,
    Dataset,
    Entry,
    EntryAttachment,
    Licence,
    User,
    table_of,
)
from tests.support import postgres_database

LICENCE_NAMES = [
    "AGPL3",
    "Apache 2.0",
    "BSD 2-clause",
    "BSD 3-clause",
    "CC0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "GPL2",
    "GPL3",
    "LGPL3",
    "MIT",
    "Mozilla Public License 2.0",
    "The Unlicense",
    "Proprietary",
]


@pytest.fixture
def fresh_database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database of this test's own, of the same kind as the session's."""
    if database_url.startswith("postgresql"):
        with postgres_database() as url:
            database = Database(url)
            try:
                yield database
            finally:
                database.dispose()
    else:
        database = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        try:
            yield database
        finally:
            database.dispose()


def _schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_fresh_database_is_empty(fresh_database: Database) -> None:
    engine = fresh_database.engine
    assert _table_names(engine) == set()
    assert current_revision(engine) is None
    assert head_revision() is not None


def test_upgrade_builds_the_model_schema(fresh_database: Database) -> None:
    engine = fresh_database.engine
    upgrade(engine)
    assert _table_names(engine) == set(Base.metadata.tables)
    assert _schema_diff(engine) == []
    assert current_revision(engine) == head_revision()


def test_upgrade_twice_is_harmless(fresh_database: Database) -> None:
    engine = fresh_database.engine
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _schema_diff(engine) == []
    with fresh_database.read() as session:
        assert session.scalar(select(func.count()).select_from(Licence)) == len(LICENCE_NAMES)
        assert session.scalar(select(func.count()).select_from(Counter)) == 1
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert [row[0] for row in versions] == [head_revision()]


def test_seeded_licences(fresh_database: Database) -> None:
    upgrade(fresh_database.engine)
    with fresh_database.read() as session:
        licences = session.scalars(select(Licence).order_by(Licence.id)).all()
    assert len(licences) == 14
    assert [(lic.id, lic.name) for lic in licences] == list(enumerate(LICENCE_NAMES, start=1))
    mit = licences[10]
    assert (mit.id, mit.name, mit.url) == (11, "MIT", "https://opensource.org/licenses/MIT")
    assert mit.permissions == ["Commercial use", "Distribution", "Modification", "Private use"]
    assert mit.conditions == ["License and copyright notice"]
    assert mit.limitations == ["Warranty", "Liability"]  # UFDL's order (0008)
    assert mit.domains == ["Software", "Models"]


def test_new_licences_get_ids_after_the_seeded_ones(fresh_database: Database) -> None:
    # On PostgreSQL the explicit seed ids do not advance the sequence by themselves.
    upgrade(fresh_database.engine)
    with fresh_database.write() as session:
        licence = Licence(name="Custom", url="https://example.org/licence")
        session.add(licence)
        session.flush()
        assert licence.id == 15
    with fresh_database.read() as session:
        stored = session.get(Licence, 15)
        assert stored is not None
        assert (stored.name, stored.permissions, stored.domains) == ("Custom", [], [])


def test_events_counter_starts_at_zero(fresh_database: Database) -> None:
    upgrade(fresh_database.engine)
    with fresh_database.read() as session:
        counters = session.scalars(select(Counter)).all()
    assert [(c.name, c.value) for c in counters] == [("events", 0)]


def test_upgrade_to_head_by_name(fresh_database: Database) -> None:
    head = head_revision()
    assert head is not None
    upgrade(fresh_database.engine, head)
    assert current_revision(fresh_database.engine) == head
    assert _schema_diff(fresh_database.engine) == []


def _entry_with_attachment(database: Database) -> tuple[int, str]:
    """A record entry holding an attachment, written at the schema of 0006; its id and
    the attachment's digest."""
    digest = "ab" * 32
    now = datetime.now(UTC)
    with database.write() as session:
        # The columns users had then (the model has more since).
        user_id = session.execute(
            insert(table_of(User)).values(username="keeper").returning(table_of(User).c.id)
        ).scalar_one()
        blob = {"digest": digest, "size": 1, "data": b"x", "created": now, "touched": now}
        session.execute(insert(table_of(Blob)).values(**blob))
        dataset = Dataset(uid="c" * 32, owner_id=user_id, name="kept")
        session.add(dataset)
        session.flush()
        entry = Entry(
            dataset_id=dataset.id, space="r", path="a", kind="record", since=1, digest=digest
        )
        session.add(entry)
        session.flush()
        session.add(EntryAttachment(entry_id=entry.id, digest=digest))
        return entry.id, digest


def test_the_entry_kind_check_is_remade_without_losing_rows(fresh_database: Database) -> None:
    """0007 copies the entries table on SQLite: the rows, and the attachment rows that
    refer to them, survive it (foreign key enforcement would have deleted those), the
    check still refuses an unknown kind, and enforcement is on again afterwards."""
    upgrade(fresh_database.engine, "0006")
    entry_id, digest = _entry_with_attachment(fresh_database)
    upgrade(fresh_database.engine)
    with fresh_database.read() as session:
        assert session.get(EntryAttachment, (entry_id, digest)) is not None
        entry = session.get(Entry, entry_id)
        assert entry is not None and (entry.path, entry.kind) == ("a", "record")
    with pytest.raises(IntegrityError), fresh_database.write() as session:
        session.execute(update(Entry).where(Entry.id == entry_id).values(kind="folder"))
    if fresh_database.dialect == "sqlite":
        with fresh_database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            with pytest.raises(IntegrityError):
                connection.execute(delete(Blob).where(Blob.digest == digest))
