"""Alembic environment: uses the connection handed over by ``dataloft.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from dataloft.db.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as own_connection:
        _run(own_connection)
