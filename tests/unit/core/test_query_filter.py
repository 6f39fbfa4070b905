"""dataloft.core.query_filter: the neutral filter tree run on real SQLite and PostgreSQL,
over a throwaway table of eight rows. Every expected result is written out by hand from
the rows below, not computed by the code under test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, Table, create_engine, select

from dataloft.core.errors import Invalid
from dataloft.core.query_filter import (
    AllOf,
    AnyOf,
    Expression,
    Field,
    FieldTest,
    Ordering,
    QuerySpec,
    Value,
    condition,
    filtered,
    order_clauses,
)
from dataloft.db.models import User
from dataloft.db.types import PathText, UTCDateTime
from tests.support import unique

# Names compare by code point ("B" < "O" < "_" < "a" < "o" < "É" < "é"), as dataloft's
# name columns do on both databases: PathText is collation "C" on PostgreSQL.
ROWS = [
    # name, size, public, deleted, note
    ("Bob", 1, True, None, "alpha"),
    ("bob", 2, False, datetime(2024, 1, 1, tzinfo=UTC), None),
    ("BOBBY tables", 3, True, datetime(2024, 6, 1, 12, tzinfo=UTC), "50% off"),
    ("robert", 10, False, None, "50 percent"),
    ("a_b", 20, True, None, "x_y"),
    ("axb", -5, False, datetime(2023, 12, 31, 23, tzinfo=UTC), "xzy"),
    ("Émile", 0, True, None, None),
    ("émile", 7, False, datetime(2025, 1, 1, tzinfo=UTC), "Alpha"),
]
EVERY = {row[0] for row in ROWS}


def short(value: object) -> str:
    """A test id: the same in every process (a set's own repr follows string hashing, which
    differs between interpreters, and pytest-xdist's workers must agree on the ids)."""
    if isinstance(value, set | frozenset):
        return repr(sorted(value))[:60]
    return repr(value)[:60]


@dataclass
class Things:
    engine: Engine
    table: Table
    fields: dict[str, Field]
    dialect: str


@pytest.fixture(scope="module")
def things(database_url: str) -> Iterator[Things]:
    engine = create_engine(database_url)
    metadata = MetaData()
    table = Table(
        unique("query_filter_"),
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", PathText, nullable=False, unique=True),
        Column("size", Integer, nullable=False),
        Column("public", Boolean, nullable=False),
        Column("deleted", UTCDateTime, nullable=True),
        Column("note", PathText, nullable=True),
    )
    metadata.create_all(engine)
    columns = ("name", "size", "public", "deleted", "note")
    with engine.begin() as connection:
        connection.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in ROWS])
    fields = {
        "name": Field.text(table.c.name),
        "size": Field.integer(table.c.size),
        "public": Field.boolean(table.c.public),
        "deleted": Field.moment(table.c.deleted, nullable=True),
        "note": Field.text(table.c.note, nullable=True),
    }
    yield Things(engine, table, fields, engine.dialect.name)
    metadata.drop_all(engine)
    engine.dispose()


def matching(things: Things, *expressions: Expression) -> set[str]:
    query = select(things.table.c.name).where(condition(expressions, things.fields))
    with things.engine.connect() as connection:
        return set(connection.scalars(query))


def ordered(things: Things, *orderings: Ordering) -> list[str]:
    query = select(things.table.c.name).order_by(*order_clauses(orderings, things.fields))
    with things.engine.connect() as connection:
        return list(connection.scalars(query))


def exact(field: str, value: Value, *, ci: bool = False, invert: bool = False) -> FieldTest:
    return FieldTest(field, "exact", value, case_insensitive=ci, invert=invert)


def contains(field: str, value: str, *, ci: bool = False, invert: bool = False) -> FieldTest:
    return FieldTest(field, "contains", value, case_insensitive=ci, invert=invert)


# --- exact -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        (exact("name", "Bob"), {"Bob"}),
        (exact("name", "bob"), {"bob"}),
        (exact("name", "BOB"), set()),
        (exact("name", "bob", ci=True), {"Bob", "bob"}),
        (exact("name", "BOB", ci=True), {"Bob", "bob"}),
        # Only ASCII letters fold, on both databases; a name always matches itself.
        (exact("name", "Émile", ci=True), {"Émile"}),
        (exact("name", "émile", ci=True), {"émile"}),
        (exact("name", "ÉMILE", ci=True), {"Émile"}),
        (exact("note", "alpha"), {"Bob"}),
        (exact("note", "ALPHA", ci=True), {"Bob", "émile"}),
        (exact("size", 10), {"robert"}),
        (exact("size", "10"), {"robert"}),
        (exact("size", "-5"), {"axb"}),
        (exact("size", 2.0), {"bob"}),
        (exact("size", 2.5), set()),
        (exact("size", 10, ci=True), {"robert"}),  # case means nothing to a number
        (exact("public", True), {"Bob", "BOBBY tables", "a_b", "Émile"}),
        (exact("public", False), {"bob", "robert", "axb", "émile"}),
        (exact("deleted", "2024-01-01T00:00:00Z"), {"bob"}),
        (exact("deleted", "2024-01-01T00:00:00+00:00"), {"bob"}),
        (exact("deleted", "2024-01-01T13:00:00+13:00"), {"bob"}),
        (exact("deleted", "2024-01-01T00:00:00"), {"bob"}),  # naive is UTC
        (exact("deleted", "2024-01-01"), {"bob"}),
        (exact("deleted", "2024-06-01T12:00:00.000000Z"), {"BOBBY tables"}),
    ],
    ids=short,
)
def test_exact(things: Things, test: FieldTest, expected: set[str]) -> None:
    assert matching(things, test) == expected


# --- contains ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        (contains("name", "ob"), {"Bob", "bob", "robert"}),
        (contains("name", "B"), {"Bob", "BOBBY tables"}),
        (contains("name", "ob", ci=True), {"Bob", "bob", "BOBBY tables", "robert"}),
        (contains("name", "OB", ci=True), {"Bob", "bob", "BOBBY tables", "robert"}),
        (contains("name", "mile", ci=True), {"Émile", "émile"}),
        (contains("name", "É"), {"Émile"}),
        (contains("name", "é", ci=True), {"émile"}),
        # LIKE's wildcards are plain characters here.
        (contains("name", "_"), {"a_b"}),
        (contains("name", "a_b", ci=True), {"a_b"}),
        (contains("note", "%"), {"BOBBY tables"}),  # "50% off"
        (contains("note", "50%"), {"BOBBY tables"}),
        (contains("note", "x_y"), {"a_b"}),
        (contains("note", "\\"), set()),
        (contains("note", "ph"), {"Bob", "émile"}),
        (contains("note", "AL", ci=True), {"Bob", "émile"}),
    ],
    ids=short,
)
def test_contains(things: Things, test: FieldTest, expected: set[str]) -> None:
    assert matching(things, test) == expected


# --- isnull and comparisons --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        (FieldTest("deleted", "isnull"), {"Bob", "robert", "a_b", "Émile"}),
        (FieldTest("deleted", "isnull", invert=True), {"bob", "BOBBY tables", "axb", "émile"}),
        (FieldTest("note", "isnull"), {"bob", "Émile"}),
        (FieldTest("name", "isnull"), set()),
        (FieldTest("name", "isnull", invert=True), EVERY),
    ],
    ids=short,
)
def test_isnull(things: Things, test: FieldTest, expected: set[str]) -> None:
    assert matching(things, test) == expected


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        (FieldTest("size", "gt", 2), {"BOBBY tables", "robert", "a_b", "émile"}),
        (FieldTest("size", "ge", 3), {"BOBBY tables", "robert", "a_b", "émile"}),
        (FieldTest("size", "ge", 2), {"bob", "BOBBY tables", "robert", "a_b", "émile"}),
        (FieldTest("size", "lt", 1), {"axb", "Émile"}),
        (FieldTest("size", "le", 1), {"Bob", "axb", "Émile"}),
        (FieldTest("size", "lt", 2.5), {"Bob", "bob", "axb", "Émile"}),
        # Compared as 2.5, not as the column's type would take it (PostgreSQL: 3).
        (FieldTest("size", "gt", 2.5), {"BOBBY tables", "robert", "a_b", "émile"}),
        (FieldTest("size", "gt", -5.5), EVERY),
        (FieldTest("size", "ge", "-5"), EVERY),
        (FieldTest("size", "lt", 2**63 - 1), EVERY),
        (FieldTest("size", "gt", -(2**63)), EVERY),
        (FieldTest("size", "gt", 2**40), set()),
        (FieldTest("name", "lt", "a"), {"Bob", "BOBBY tables"}),
        (FieldTest("name", "ge", "É"), {"Émile", "émile"}),
        (FieldTest("deleted", "lt", "2024-01-01T00:00:00Z"), {"axb"}),
        (FieldTest("deleted", "le", "2024-01-01T00:00:00Z"), {"axb", "bob"}),
        # 12:00 at +13:00 is 23:00 UTC the day before: axb's moment.
        (FieldTest("deleted", "gt", "2024-01-01T12:00:00+13:00"), {"bob", "BOBBY tables", "émile"}),
        (
            FieldTest("deleted", "ge", "2024-01-01T12:00:00+13:00"),
            {"axb", "bob", "BOBBY tables", "émile"},
        ),
    ],
    ids=short,
)
def test_compare(things: Things, test: FieldTest, expected: set[str]) -> None:
    assert matching(things, test) == expected


# --- invert: Django's exclude() keeps the rows whose field is NULL ------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (exact("note", "alpha", invert=True), EVERY - {"Bob"}),
        (contains("note", "p", invert=True), {"bob", "BOBBY tables", "a_b", "axb", "Émile"}),
        (
            FieldTest("deleted", "lt", "2024-03-01T00:00:00Z", invert=True),
            {"Bob", "BOBBY tables", "robert", "a_b", "Émile", "émile"},
        ),
        (exact("name", "Bob", invert=True), EVERY - {"Bob"}),
        (exact("name", "bob", ci=True, invert=True), EVERY - {"Bob", "bob"}),
        # NOT (note = 'alpha' OR size > 10): bob's and Émile's NULL notes stay.
        (
            AnyOf((exact("note", "alpha"), FieldTest("size", "gt", 10)), invert=True),
            {"bob", "BOBBY tables", "robert", "axb", "Émile", "émile"},
        ),
        # NOT (public AND note contains 'a'): Émile is public with no note, and stays.
        (AllOf((exact("public", True), contains("note", "a")), invert=True), EVERY - {"Bob"}),
        # Inverted twice: NOT (NOT note = 'alpha' OR size > 10), a row with no note fails.
        (
            AnyOf((exact("note", "alpha", invert=True), FieldTest("size", "gt", 10)), invert=True),
            {"Bob"},
        ),
    ],
    ids=short,
)
def test_invert(things: Things, expression: Expression, expected: set[str]) -> None:
    assert matching(things, expression) == expected


# --- and, or -----------------------------------------------------------------------------------


def test_top_level_expressions_all_hold(things: Things) -> None:
    assert matching(things, contains("name", "ob", ci=True), FieldTest("size", "ge", 3)) == {
        "BOBBY tables",
        "robert",
    }


def test_all_of_and_any_of(things: Things) -> None:
    assert matching(things, AllOf((exact("public", False), contains("name", "b")))) == {
        "bob",
        "robert",
        "axb",
    }
    assert matching(things, AnyOf((exact("name", "axb"), FieldTest("size", "gt", 9)))) == {
        "axb",
        "robert",
        "a_b",
    }


def test_or_of_ands(things: Things) -> None:
    # The shape of UFDL's example: (name icontains 'b' AND size >= 3) OR name = 'Émile',
    # and, besides, not deleted.
    expression = AnyOf(
        (
            AllOf((contains("name", "B", ci=True), FieldTest("size", "ge", 3))),
            exact("name", "Émile"),
        )
    )
    assert matching(things, expression) == {"BOBBY tables", "robert", "a_b", "Émile"}
    assert matching(things, expression, FieldTest("deleted", "isnull")) == {
        "robert",
        "a_b",
        "Émile",
    }


def test_empty_combinations(things: Things) -> None:
    assert matching(things) == EVERY
    assert matching(things, AllOf(())) == EVERY
    assert matching(things, AnyOf(())) == set()
    assert matching(things, AnyOf((), invert=True)) == EVERY


def test_condition_takes_a_spec(things: Things) -> None:
    spec = QuerySpec(expressions=(exact("size", 1),), include_inactive=True)
    query = select(things.table.c.name).where(condition(spec, things.fields))
    with things.engine.connect() as connection:
        assert list(connection.scalars(query)) == ["Bob"]


# --- ordering ----------------------------------------------------------------------------------


def test_order_by_name_is_by_code_point(things: Things) -> None:
    assert ordered(things, Ordering("name")) == [
        "BOBBY tables",
        "Bob",
        "a_b",
        "axb",
        "bob",
        "robert",
        "Émile",
        "émile",
    ]


def test_order_descending(things: Things) -> None:
    assert ordered(things, Ordering("size", ascending=False)) == [
        "a_b",
        "robert",
        "émile",
        "BOBBY tables",
        "bob",
        "Bob",
        "Émile",
        "axb",
    ]


def test_order_nulls_first(things: Things) -> None:
    assert ordered(things, Ordering("deleted", nulls_first=True), Ordering("name")) == [
        "Bob",
        "a_b",
        "robert",
        "Émile",
        "axb",
        "bob",
        "BOBBY tables",
        "émile",
    ]


def test_order_nulls_last_descending(things: Things) -> None:
    assert ordered(
        things, Ordering("deleted", ascending=False, nulls_first=False), Ordering("name")
    ) == ["émile", "BOBBY tables", "bob", "axb", "Bob", "a_b", "robert", "Émile"]


def test_order_nulls_where_the_database_puts_them(things: Things) -> None:
    # SQLite sorts NULL as the smallest value, PostgreSQL as the largest.
    nulls = ["bob", "Émile"]
    notes = ["robert", "BOBBY tables", "émile", "Bob", "a_b", "axb"]  # "50 p" < "50%" < "A"
    got = ordered(things, Ordering("note"), Ordering("name"))
    assert got == (nulls + notes if things.dialect == "sqlite" else notes + nulls)


def test_filtered_leaves_out_inactive_rows_and_sorts_last_by_order(things: Things) -> None:
    table = things.table

    def run(spec: QuerySpec) -> list[str]:
        query = filtered(
            select(table.c.name),
            spec,
            things.fields,
            inactive=table.c.deleted.is_not(None),
            order=table.c.size,
        )
        with things.engine.connect() as connection:
            return list(connection.scalars(query))

    assert run(QuerySpec()) == ["Émile", "Bob", "robert", "a_b"]
    assert run(QuerySpec(include_inactive=True)) == [
        "axb",
        "Émile",
        "Bob",
        "bob",
        "BOBBY tables",
        "émile",
        "robert",
        "a_b",
    ]
    by_public = QuerySpec(
        expressions=(contains("name", "b", ci=True),),
        ordering=(Ordering("public", ascending=False),),
        include_inactive=True,
    )
    assert run(by_public) == ["Bob", "BOBBY tables", "a_b", "axb", "bob", "robert"]


def test_fields_may_be_orm_attributes(things: Things) -> None:
    fields = {
        "username": Field.text(User.username),
        "email": Field.text(User.email, nullable=True),
        "is_active": Field.boolean(User.is_active),
    }
    spec = QuerySpec(
        expressions=(contains("username", "A", ci=True), exact("email", "x", invert=True)),
        ordering=(Ordering("email", nulls_first=False),),
    )
    query = filtered(select(User.id), spec, fields, inactive=~User.is_active, order=User.id)
    sql = str(query.compile(dialect=things.engine.dialect))
    assert "lower(users.username" in sql
    assert "ORDER BY users.email ASC NULLS LAST, users.id" in sql


# --- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (exact("size", "abc"), "the value for field 'size' must be an integer"),
        (exact("size", "2.5"), "field 'size' must be an integer"),
        (exact("size", " 2"), "field 'size' must be an integer"),
        (exact("size", "1" * 21), "field 'size' must be an integer"),
        (exact("size", True), "field 'size' must be an integer (64 bits at most), not true"),
        (FieldTest("size", "lt", 2**63), "field 'size' must be an integer (64 bits at most)"),
        (FieldTest("size", "gt", -(2**63) - 1), "field 'size' must be an integer"),
        (FieldTest("size", "gt", float("inf")), "field 'size' must be an integer"),
        (FieldTest("size", "gt", float("nan")), "field 'size' must be an integer"),
        (contains("size", "1"), "field 'size' holds integer values: only a text field"),
        (exact("name", True), "the value for field 'name' must be a string"),
        (exact("name", 5), "the value for field 'name' must be a string"),
        (exact("name", "a\x00b"), "field 'name' must not contain NUL"),
        (contains("note", "\ud800"), "field 'note' must not contain NUL characters or unpaired"),
        (exact("name", "x" * 10_001), "field 'name' must be a string of at most 10000"),
        (exact("public", 1), "the value for field 'public' must be true or false, not 1"),
        (exact("public", "true"), "field 'public' must be true or false, not \"true\""),
        (FieldTest("public", "lt", True), "field 'public' holds true or false, which have no"),
        (contains("public", "t"), "field 'public' holds boolean values"),
        (exact("deleted", "yesterday"), "field 'deleted' must be an ISO-8601 date and time"),
        (FieldTest("deleted", "lt", 1_700_000_000), "field 'deleted' must be an ISO-8601"),
        (exact("deleted", True), "field 'deleted' must be an ISO-8601 date and time, not true"),
        (exact("deleted", "0001-01-01T00:00:00+01:00"), "field 'deleted' must be an ISO-8601"),
        (contains("deleted", "2024"), "field 'deleted' holds datetime values"),
        # Wherever it sits.
        (AnyOf((exact("name", "x"), AllOf((exact("size", "x"),)))), "field 'size'"),
    ],
    ids=short,
)
def test_values_that_do_not_suit_the_field(
    things: Things, expression: Expression, message: str
) -> None:
    with pytest.raises(Invalid) as caught:
        condition([expression], things.fields)
    assert message in caught.value.message


def test_unknown_field(things: Things) -> None:
    expected = "unknown field 'nope'; fields: deleted, name, note, public, size"
    with pytest.raises(Invalid) as caught:
        condition([AllOf((exact("name", "x"), FieldTest("nope", "isnull")))], things.fields)
    assert caught.value.message == expected
    with pytest.raises(Invalid) as caught:
        order_clauses([Ordering("name"), Ordering("nope")], things.fields)
    assert caught.value.message == expected


def test_a_long_value_is_cut_short_in_the_message(things: Things) -> None:
    with pytest.raises(Invalid) as caught:
        condition([exact("size", "9" * 500)], things.fields)
    assert caught.value.message.endswith('not "' + "9" * 56 + "...")
