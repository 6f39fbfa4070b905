"""INSERT ... ON CONFLICT DO NOTHING for both databases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dataloft.db.batches import execute_batched
from dataloft.db.models import Base


def insert_ignore(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    if not rows:
        return
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # On the table, not the mapped class: a Core insert skips the ORM's bulk persistence,
    # which builds a state per row (a third of a 10,000-record commit's time went there).
    statement = module.insert(model.__table__).on_conflict_do_nothing(index_elements=list(keys))
    execute_batched(session, statement, rows)
