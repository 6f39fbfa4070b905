"""Hot lookups, compiled once and run on the DBAPI cursor.

Every request authenticates a token, finds a dataset and usually one entry. Those lookups
are indexed point queries that SQLite answers in about 5 µs, but SQLAlchemy's per-execution
machinery (execution context, result objects, ORM sessions) adds 60-120 µs to each, which
is most of a request. A ``Prepared`` statement is still written as a SQLAlchemy expression
(no SQL text is written by hand); it is compiled to the dialect's SQL once, executed on the
raw DBAPI connection of the current transaction, and its rows are converted with the
column types' own result processors, so values come back exactly as the ORM would return
them (aware datetimes, parsed JSON, booleans). The values the statement holds itself (its
literals) are sent with the caller's parameters. A statement that costs more to build than
to run is one too (a folder's walk, ``core/tree.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Select
from sqlalchemy.engine import Dialect


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Positional dialects (SQLite's qmark) take parameters in this order; None: by name.
    order: tuple[str, ...] | None
    # (column index, converter) for the columns whose values need converting.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    # (column index, deep copy) for the columns whose values are JSON documents: objects a
    # caller may change.
    documents: tuple[tuple[int, Callable[[Any], Any]], ...]
    # The values of the parameters the statement holds itself (its literals), sent with
    # the caller's.
    values: Mapping[str, Any]


class Prepared:
    """``remembered``: a lookup asked again and again with the same parameters (a token, a
    record's entry), whose rows a ``Lookup`` may keep while nothing is committed (see
    ``dataloft.db.engine.RowMemory``)."""

    def __init__(self, statement: Select[*tuple[Any, ...]], *, remembered: bool = False) -> None:
        self.statement = statement
        self.remembered = remembered
        self.columns = tuple(column.key for column in statement.selected_columns)
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self.statement.compile(dialect=dialect)
            converters = (
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            processors = tuple(
                (index, convert) for index, convert in enumerate(converters) if convert is not None
            )
            order = tuple(statement.positiontup or ()) if statement.positional else None
            documents = tuple(
                (index, copy.deepcopy)
                for index, column in enumerate(self.statement.selected_columns)
                if isinstance(column.type.dialect_impl(dialect), JSON)
            )
            held = {
                name: bind.effective_value
                for bind, name in statement.bind_names.items()
                if not bind.required
            }
            compiled = _Compiled(statement.string, order, processors, documents, held)
            self._compiled[dialect.name] = compiled
        return compiled

    def rows(
        self, connection: Any, dialect: Dialect, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The statement's rows, their values as the ORM would return them: new objects
        each time (a parsed JSON document is the caller's to keep)."""
        compiled = self._compile(dialect)
        if compiled.values:
            params = {**compiled.values, **params}
        arguments: Sequence[Any] | Mapping[str, Any] = (
            [params[name] for name in compiled.order] if compiled.order is not None else params
        )
        cursor = connection.cursor()
        try:
            cursor.execute(compiled.sql, arguments)
            fetched: list[tuple[Any, ...]] = cursor.fetchall()
        finally:
            cursor.close()
        return _replaced(fetched, compiled.processors)

    def copied(self, dialect: Dialect, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rows from ``rows`` again, with JSON documents of their own: for rows kept to be
        handed out more than once."""
        documents = self._compile(dialect).documents
        return _replaced(rows, documents) if documents else list(rows)


def _replaced(
    rows: list[tuple[Any, ...]], replacements: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> list[tuple[Any, ...]]:
    """``rows`` with each value at an index of ``replacements`` (that is not None) replaced
    by what its function makes of it (``rows`` itself when there are none)."""
    if not replacements:
        return rows
    replaced = []
    for row in rows:
        values = list(row)
        for index, replace in replacements:
            if values[index] is not None:
                values[index] = replace(values[index])
        replaced.append(tuple(values))
    return replaced
