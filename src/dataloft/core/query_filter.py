"""Filtering and ordering a listing by what a client asked for: a neutral expression tree
(what a dialect's filter body parses into, e.g. UFDL's FilterSpec) and its translation
into SQLAlchemy conditions over the columns a caller offers under public field names.

The meaning is Django's, because the dialect this serves (UFDL) is a Django application
and its clients were written against Django's lookups:

* ``exact`` is ``=``; ``contains`` finds a substring; both compare case-sensitively
  unless ``case_insensitive`` (Django's ``iexact`` / ``icontains``). SQLite's ``LIKE``
  ignores the case of ASCII letters, so a case-sensitive ``contains`` cannot be a
  ``LIKE`` there: both kinds of ``contains`` are a substring position (``instr`` on
  SQLite, ``strpos`` on PostgreSQL), which treats ``%`` and ``_`` as the characters they
  are, with nothing to escape.
* Case-insensitive tests fold ASCII letters only, on both databases: SQLite's ``lower()``
  knows no other letters, and so, on PostgreSQL, we lower both sides under the "C"
  collation. Lowering the value under the database's collation and the column under its
  own ("C" for dataloft's names) would fold "É" on one side only, and a name would not
  even match itself.
* ``isnull`` is ``IS NULL``; ``lt``/``gt``/``le``/``ge`` compare (text in the column's
  collation: code point order for dataloft's names).
* ``invert`` is Django's ``exclude()``: a row whose field is NULL does not match a test,
  so the inverted test keeps it. In SQL the test would be unknown on a NULL, and so would
  its NOT, dropping the row both ways; a test on a nullable field is therefore made false
  on NULL, and every test is plainly true or false before it is inverted or combined.

A value must suit its field: a string for text, an integer for an integer field (a
string of decimal digits too, as Django takes it; a fractional number is compared as
the number it is), true or false for a boolean, an ISO-8601 date and time for a moment
(without an offset it is UTC). A value that does not is ``Invalid`` naming the field,
never a database error.
"""

from __future__ import annotations

import json
import math
import operator as op
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeAlias, TypeVarTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    Text,
    and_,
    collate,
    false,
    func,
    literal,
    not_,
    or_,
)
from sqlalchemy import true as sql_true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.functions import FunctionElement

from dataloft.core.errors import Invalid
from dataloft.core.names import check_text
from dataloft.db.strings import Position

Ts = TypeVarTuple("Ts")

Operator: TypeAlias = Literal["exact", "contains", "isnull", "lt", "gt", "le", "ge"]
Value: TypeAlias = str | int | float | bool

# A bound on a text value, so that a filter cannot carry megabytes into every row's
# substring search (the longest text a filter may sensibly name is a description).
TEXT_VALUE_MAX = 10_000
# SQLite binds integers of 64 bits at most and raises on a larger one.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL = re.compile(r"[+-]?[0-9]{1,20}")
_COMPARISONS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "lt": op.lt,
    "gt": op.gt,
    "le": op.le,
    "ge": op.ge,
}


class Kind(StrEnum):
    """What a field holds, which decides the values and tests it takes."""

    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


@dataclass(frozen=True)
class Field:
    """A column a filter may name (a Core column or an ORM attribute): ``nullable`` when
    it can be NULL, which includes a column reached through an outer join."""

    column: SQLColumnExpression[Any]
    kind: Kind
    nullable: bool = False

    @classmethod
    def text(cls, column: SQLColumnExpression[Any], *, nullable: bool = False) -> Field:
        return cls(column, Kind.TEXT, nullable)

    @classmethod
    def integer(cls, column: SQLColumnExpression[Any], *, nullable: bool = False) -> Field:
        return cls(column, Kind.INTEGER, nullable)

    @classmethod
    def boolean(cls, column: SQLColumnExpression[Any], *, nullable: bool = False) -> Field:
        return cls(column, Kind.BOOLEAN, nullable)

    # Not ``datetime``: a method of that name would stand for the type in this class's
    # annotations.
    @classmethod
    def moment(cls, column: SQLColumnExpression[Any], *, nullable: bool = False) -> Field:
        return cls(column, Kind.DATETIME, nullable)


@dataclass(frozen=True)
class FieldTest:
    """One test of one field. ``value`` is None for ``isnull`` and required otherwise;
    ``case_insensitive`` matters to ``exact`` and ``contains`` on text only."""

    field: str
    operator: Operator
    value: Value | None = None
    case_insensitive: bool = False
    invert: bool = False


@dataclass(frozen=True)
class AllOf:
    """True when every item is (so when there are none)."""

    items: tuple[Expression, ...]
    invert: bool = False


@dataclass(frozen=True)
class AnyOf:
    """True when some item is (so never when there are none)."""

    items: tuple[Expression, ...]
    invert: bool = False


Expression: TypeAlias = FieldTest | AllOf | AnyOf


@dataclass(frozen=True)
class Ordering:
    """One key of a sort; ``nulls_first`` None leaves NULLs where the database puts them
    (last ascending and first descending on PostgreSQL, the other way round on SQLite)."""

    field: str
    ascending: bool = True
    nulls_first: bool | None = None


@dataclass(frozen=True)
class QuerySpec:
    """A whole listing request: rows matching every expression, sorted by ``ordering``;
    soft-deleted or deactivated rows only with ``include_inactive``."""

    expressions: tuple[Expression, ...] = ()
    ordering: tuple[Ordering, ...] = ()
    include_inactive: bool = False


def condition(
    spec: QuerySpec | Iterable[Expression], fields: Mapping[str, Field]
) -> ColumnElement[bool]:
    """The WHERE condition of ``spec`` (or of these expressions): all of them at once."""
    expressions = spec.expressions if isinstance(spec, QuerySpec) else tuple(spec)
    return _all([_expression(expression, fields) for expression in expressions])


def order_clauses(
    orderings: Iterable[Ordering], fields: Mapping[str, Field]
) -> list[UnaryExpression[Any]]:
    """The ORDER BY clauses of ``orderings``, first key first."""
    clauses = []
    for ordering in orderings:
        column = _field(ordering.field, fields).column
        clause = column.asc() if ordering.ascending else column.desc()
        if ordering.nulls_first is not None:
            clause = clause.nulls_first() if ordering.nulls_first else clause.nulls_last()
        clauses.append(clause)
    return clauses


def filtered(
    query: Select[*Ts],
    spec: QuerySpec,
    fields: Mapping[str, Field],
    *,
    inactive: SQLColumnExpression[bool] | None,
    order: SQLColumnExpression[Any],
) -> Select[*Ts]:
    """``query`` narrowed and sorted by ``spec``. ``inactive`` is true of the rows a
    listing leaves out unless the spec includes inactive ones (None: rows of this kind are
    never inactive); ``order`` sorts last, so that rows the spec's keys leave tied (or a
    spec with no keys) come in one repeatable order."""
    query = query.where(condition(spec, fields))
    if inactive is not None and not spec.include_inactive:
        query = query.where(not_(inactive))
    return query.order_by(*order_clauses(spec.ordering, fields), order)


def _all(clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(*clauses) if clauses else sql_true()


def _any(clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*clauses) if clauses else false()


def _expression(expression: Expression, fields: Mapping[str, Field]) -> ColumnElement[bool]:
    match expression:
        case FieldTest():
            clause = _test(expression, fields)
        case AllOf(items):
            clause = _all([_expression(item, fields) for item in items])
        case AnyOf(items):
            clause = _any([_expression(item, fields) for item in items])
    return not_(clause) if expression.invert else clause


def _field(name: str, fields: Mapping[str, Field]) -> Field:
    found = fields.get(name)
    if found is None:
        raise Invalid(f"unknown field {name!r}; fields: {', '.join(sorted(fields))}")
    return found


def _test(test: FieldTest, fields: Mapping[str, Field]) -> ColumnElement[bool]:
    field = _field(test.field, fields)
    column = field.column
    if test.operator == "isnull":
        # Never unknown, so it needs none of the NULL handling below.
        return column.is_(None)
    _check_applies(test, field)
    value = _value(test, field)
    fold = test.case_insensitive and field.kind is Kind.TEXT
    clause: ColumnElement[bool]
    if test.operator == "exact":
        clause = _AsciiLower(column) == _AsciiLower(value) if fold else column == value
    elif test.operator == "contains":
        haystack, needle = (_AsciiLower(column), _AsciiLower(value)) if fold else (column, value)
        clause = Position(haystack, needle) > 0
    else:
        clause = _COMPARISONS[test.operator](column, value)
    # False rather than unknown on a NULL (see the module's docstring): `x AND FALSE` is
    # false even where x is unknown.
    return and_(clause, column.is_not(None)) if field.nullable else clause


def _check_applies(test: FieldTest, field: Field) -> None:
    if test.operator == "contains" and field.kind is not Kind.TEXT:
        raise Invalid(
            f"field {test.field!r} holds {field.kind} values: only a text field has substrings"
        )
    if test.operator in _COMPARISONS and field.kind is Kind.BOOLEAN:
        raise Invalid(f"field {test.field!r} holds true or false, which have no order")


def _value(test: FieldTest, field: Field) -> Value | datetime | ColumnElement[Any]:
    """``test.value`` as the field's column takes it, or Invalid saying what it takes."""
    where = f"the value for field {test.field!r}"
    if field.kind is Kind.TEXT:
        return check_text(test.value, where, TEXT_VALUE_MAX)
    taken = _READERS[field.kind](test.value)
    if taken is None:
        raise Invalid(f"{where} must be {_TAKES[field.kind]}, not {_shown(test.value)}")
    if field.kind is Kind.INTEGER:
        # Bound as what it is, not as the column's type: PostgreSQL would cast it to that
        # first (a 32-bit INTEGER), failing past 2**31 and turning 2.5 into 3.
        return literal(taken, BigInteger() if isinstance(taken, int) else Float())
    return taken


def _integer(value: object) -> int | float | None:
    # Django reads a string of digits as the number; more than 20 digits is out of range
    # anyway (and int() refuses strings of thousands of digits).
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = int(value)
    if isinstance(value, bool):  # a bool is an int to Python, not to a client
        return None
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else None
    # A fraction is compared as itself: `version < 2.5` holds for 2, and `version = 2.5`
    # for no row (Django would truncate the value to 2 first).
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _boolean(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        # Without an offset it is UTC; with one it is converted, as the columns hold UTC.
        return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(UTC)
    except (ValueError, OverflowError):  # overflow: year 1 or 9999 moved past its end
        return None


_READERS: dict[Kind, Callable[[object], Value | datetime | None]] = {
    Kind.INTEGER: _integer,
    Kind.BOOLEAN: _boolean,
    Kind.DATETIME: _moment,
}
_TAKES = {
    Kind.INTEGER: "an integer (64 bits at most)",
    Kind.BOOLEAN: "true or false",
    Kind.DATETIME: "an ISO-8601 date and time",
}


def _shown(value: object) -> str:
    """A value as the client wrote it (JSON), cut short: error messages echo it."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


class _AsciiLower(FunctionElement[str]):
    """``lower()`` of ASCII letters only, the same on both databases (see the module's
    docstring)."""

    type = Text()
    inherit_cache = True


@compiles(_AsciiLower)
def _ascii_lower(element: _AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's lower() folds ASCII letters only already.
    return compiler.process(func.lower(*element.clauses), **kw)


@compiles(_AsciiLower, "postgresql")
def _ascii_lower_postgresql(element: _AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = element.clauses
    return compiler.process(func.lower(collate(text, "C")), **kw)
