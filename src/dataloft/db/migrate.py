"""Run Alembic migrations from code: ``dataloft db upgrade`` and server start-up use this."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from dataloft.db.engine import room_to_open

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant will do: it only has to be the same in every dataloft process.
_PG_MIGRATION_LOCK = 0x6461746C6F6674


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Safe when several processes start at once: on
    PostgreSQL they queue on an advisory lock; SQLite's write lock does the same job."""
    config = alembic_config(engine)
    with room_to_open(), engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            with _keys_checked_at_the_end(connection):
                command.upgrade(config, revision)
            connection.commit()
        finally:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                connection.commit()


@contextmanager
def _keys_checked_at_the_end(connection: Connection) -> Iterator[None]:
    """On SQLite, migrations run without foreign key enforcement, and every key is checked
    once they are done, before their transaction commits. SQLite changes a table's
    constraints by copying it (Alembic's batch mode), and dropping the old table with
    enforcement on would be refused, or delete the rows that refer to it (SQLite's own
    procedure for such changes: https://sqlite.org/lang_altertable.html#otheralter).
    Enforcement can only be switched outside a transaction: off before the first
    statement, on again after the commit or the rollback, so that the pooled connection
    goes back as every other one is."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.dbapi_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")  # no transaction has begun yet
    try:
        before = MigrationContext.configure(connection).get_current_revision()
        yield
        if MigrationContext.configure(connection).get_current_revision() != before:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
            if broken is not None:
                table, rowid, parent, _ = broken
                raise RuntimeError(
                    f"migrating left row {rowid} of {table} referring to a missing {parent} row"
                )
        connection.commit()
    finally:
        connection.rollback()  # nothing to roll back after a commit
        driver.execute("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()
