"""``Prepared`` statements on both databases: a statement's own literals (a comparison with
a constant, a number added) travel with the caller's parameters, which name only what
varies."""

from __future__ import annotations

from sqlalchemy import Integer, String, bindparam, literal, select

from dataloft.core.loft import Loft
from dataloft.db.prepared import Prepared

# Literals in the select list and in the condition, around one parameter of the caller's.
COUNTED = Prepared(
    select((bindparam("n", type_=Integer) + 1).label("next"), literal("x").label("tag")).where(
        bindparam("n", type_=Integer) > 0, bindparam("name", type_=String) != "nobody"
    )
)


def test_a_statement_sends_its_own_literals_with_the_callers_parameters(loft: Loft) -> None:
    with loft.db.lookup() as lookup:
        assert lookup.rows(COUNTED, n=1, name="someone") == [(2, "x")]
        assert lookup.rows(COUNTED, n=0, name="someone") == []
        assert lookup.rows(COUNTED, n=5, name="nobody") == []
