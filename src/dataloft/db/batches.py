"""Many rows, a batch at a time: for ``IN (...)`` lists and for inserts of many rows.

Both databases limit how many parameters one statement may carry, and the drivers turn a
statement's parameter sets into SQL in C while holding the interpreter lock: sending
60,000 rows in one ``execute`` held it for 85 ms on PostgreSQL, stalling every other
request of the server, where batches of 500 hold it for 14 ms and cost the same in all.

Inserts of many rows (``insert_batched``) skip SQLAlchemy's per-row machinery: given a
list of parameter sets, SQLAlchemy builds a parameter dictionary per row and runs each
value through its type's converter (about 6 µs a row: 0.06 s of a bulk write of 10,000
records, whose SQLite ``executemany`` takes twice that). Here the statement is compiled
once per dialect and columns, each row becomes the driver's parameter set directly, and
only the columns whose type converts a value (JSON, timestamps) pay for it. The
statement still runs through ``exec_driver_sql``, in the session's transaction, so driver
errors reach callers as the same SQLAlchemy exceptions.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

T = TypeVar("T")

BATCH_ROWS = 500


def batches(items: Sequence[T], size: int = BATCH_ROWS) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Rows sorted in one go: sorting is C's work, which keeps the interpreter lock throughout
# (70,000 rows by their digests held it for 60-120 ms; 10,000 for under 10 ms).
SORT_RUN = 10_000


def in_key_order(rows: Sequence[T], key: Callable[[T], Any]) -> list[T]:
    """``rows`` sorted by ``key``: a run of ``SORT_RUN`` rows at a time, merged in Python,
    between whose steps other threads (the event loop's) get the interpreter lock."""
    if len(rows) <= SORT_RUN:
        return sorted(rows, key=key)
    runs = [sorted(run, key=key) for run in batches(rows, SORT_RUN)]
    return list(heapq.merge(*runs, key=key))


Columns = Mapping[str, Sequence[Any]]  # each column's values, one per row, all as long


@dataclass(frozen=True)
class _Insert:
    """An INSERT compiled for one dialect and set of columns."""

    sql: str
    names: tuple[str, ...]  # the columns, in the order of the statement's parameters
    positional: bool  # SQLite's qmark style; else named (psycopg's pyformat), by ``keys``
    keys: tuple[str, ...]
    # (index in ``names``, converter, what it makes of None) for each converting column.
    converters: tuple[tuple[int, Callable[[Any], Any], Any], ...]

    def parameters(self, columns: Columns, start: int, end: int) -> list[Any]:
        """The driver's parameter sets for rows ``start`` to ``end``: putting the rows
        together from the columns is C's work, and only the converting columns cost a
        Python call per value, and not even that where a column holds one value in every
        row (a commit's instant in each blob row, no metadata in a record's entry)."""
        sliced = [columns[name][start:end] for name in self.names]
        for index, convert, none in self.converters:
            values = sliced[index]
            first = values[0]
            if all(value is first for value in values):  # one object: converted once
                sliced[index] = [none if first is None else convert(first)] * len(values)
            else:
                sliced[index] = [none if v is None else convert(v) for v in values]
        if self.positional:
            return list(zip(*sliced, strict=True))
        return [dict(zip(self.keys, values, strict=True)) for values in zip(*sliced, strict=True)]


_compiled: dict[tuple[str, Table, tuple[str, ...], tuple[str, ...] | None], _Insert] = {}


def _compile(
    dialect: Dialect, table: Table, names: tuple[str, ...], conflict: tuple[str, ...] | None
) -> _Insert:
    key = (dialect.name, table, names, conflict)
    found = _compiled.get(key)
    if found is not None:
        return found
    module = postgresql if dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    if conflict is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    # for_executemany: no RETURNING of the new key, which PostgreSQL's single-row inserts
    # would otherwise carry.
    compiled = statement.compile(dialect=dialect, column_keys=list(names), for_executemany=True)
    if compiled.insert_prefetch:  # a column left to a Python-side default
        missing = ", ".join(column.key for column in compiled.insert_prefetch)
        raise ValueError(f"rows for {table.name} lack the columns {missing}")
    order = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
    converters = []
    for index, name in enumerate(order):
        convert = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            converters.append((index, convert, convert(None)))
    keys = tuple(compiled.escaped_bind_names.get(name, name) for name in order)
    found = _Insert(compiled.string, order, compiled.positional, keys, tuple(converters))
    _compiled[key] = found
    return found


def insert_batched(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_conflicts_on: Sequence[str] | None = None,
) -> None:
    """Insert ``rows`` (each with the same columns) into ``table``: ``insert_columns`` of
    their columns, a batch of rows at a time (turning 100,000 rows into columns in one go
    would hold the interpreter lock for tens of milliseconds)."""
    if not rows:
        return
    names = tuple(rows[0])
    for batch in batches(rows):
        if len(names) == 1:  # itemgetter of one name gives the value, not a tuple
            columns: Columns = {names[0]: [row[names[0]] for row in batch]}
        else:
            picked = map(itemgetter(*names), batch)
            columns = dict(zip(names, zip(*picked, strict=True), strict=True))
        insert_columns(session, table, columns, ignore_conflicts_on=ignore_conflicts_on)


def insert_columns(
    session: Session,
    table: Table,
    columns: Columns,
    *,
    ignore_conflicts_on: Sequence[str] | None = None,
) -> None:
    """Insert rows given a column at a time into ``table``, a batch of rows per
    ``executemany`` (see the module docstring). With ``ignore_conflicts_on`` (the columns
    of a unique key) a row whose key exists already is skipped: ``ON CONFLICT DO
    NOTHING``."""
    size = len(next(iter(columns.values()), ()))
    if not size:
        return
    connection = session.connection()
    conflict = tuple(ignore_conflicts_on) if ignore_conflicts_on is not None else None
    insert = _compile(connection.dialect, table, tuple(columns), conflict)
    for start in range(0, size, BATCH_ROWS):
        parameters = insert.parameters(columns, start, start + BATCH_ROWS)
        connection.exec_driver_sql(insert.sql, parameters)
