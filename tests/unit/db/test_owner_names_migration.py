"""Migration 0004 enters the users and teams that exist into ``owner_names``, in lower
case; of names that differ only in case (possible before it), the first made holds the
name and the others keep working without a row of their own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dataloft.db import Database
from dataloft.db.migrate import upgrade
from dataloft.db.models import OwnerName, Team, User
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


def test_existing_owners_get_their_names(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade(database.engine, "0002")
    with database.write() as session:
        users = [User(username=name) for name in ("Alice", "bob", "alice", "\u00c9lise")]
        session.add_all(users)
        session.flush()
        teams = [Team(name=name) for name in ("Birders", "BOB")]
        session.add_all(teams)
        session.flush()
        ids = {user.username: user.id for user in users} | {team.name: team.id for team in teams}
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
