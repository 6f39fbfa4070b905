"""Migration 0004 enters the users and teams that exist into ``owner_names``, in lower
case; of names that differ only in case (possible before it), the first made holds the
name and the others keep working without a row of their own."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dataloft.db import Database
from dataloft.db.migrate import upgrade
from dataloft.db.models import Base, OwnerName, Team, User, table_of
from tests.support import postgres_database


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database of this test's own, of the same kind as the session's."""
    if database_url.startswith("postgresql"):
        with postgres_database() as url:
            database = Database(url)
            yield database
            database.dispose()
    else:
        database = Database(f"sqlite:///{tmp_path / 'names.sqlite3'}")
        yield database
        database.dispose()


def _rows(session: Session, model: type[Base], column: str, names: Iterable[str]) -> dict[str, int]:
    """Rows of ``model`` with only their name set (and the model's defaults): the columns
    the table had at 0002, which later migrations add to. Their ids, by name."""
    table = table_of(model)
    return {
        name: session.execute(
            insert(table).values({column: name}).returning(table.c.id)
        ).scalar_one()
        for name in names
    }


def test_existing_owners_get_their_names(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade(database.engine, "0002")
    with database.write() as session:
        ids = _rows(session, User, "username", ("Alice", "bob", "alice", "\u00c9lise"))
        ids |= _rows(session, Team, "name", ("Birders", "BOB"))
    with caplog.at_level(logging.WARNING, logger="dataloft.migrations"):
        upgrade(database.engine)
    with database.read() as session:
        rows = {row.name: (row.user_id, row.team_id) for row in session.scalars(select(OwnerName))}
    assert rows == {
        "alice": (ids["Alice"], None),
        "bob": (ids["bob"], None),
        "\u00c9lise": (ids["\u00c9lise"], None),  # only ASCII letters are folded
        "birders": (None, ids["Birders"]),
    }
    warned = sorted(record.getMessage() for record in caplog.records)
    assert warned == [
        "owner name 'BOB' differs only in case from 'bob': both keep working, and the name "
        "stays taken",
        "owner name 'alice' differs only in case from 'Alice': both keep working, and the "
        "name stays taken",
    ]
