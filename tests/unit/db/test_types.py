"""``UTCDateTime`` converts a repeated instant once per batch and still every other value
on its own (its bind processor remembers the last object it converted, and on SQLite its
result processor the last text it parsed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from dataloft.db.types import UTCDateTime

# The dialect classes are untyped.
DIALECTS: list[Dialect] = [sqlite.dialect(), postgresql.dialect()]  # type: ignore[no-untyped-call]


def _processor(dialect: Dialect) -> Any:
    process = UTCDateTime().bind_processor(dialect)
    assert process is not None
    return process


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_each_value_after_a_repeated_one_is_converted_as_itself(dialect: Dialect) -> None:
    process = _processor(dialect)
    fresh = _processor(dialect)
    now = datetime(2026, 12, 6, 17, 30, tzinfo=UTC)
    later = now + timedelta(seconds=1)
    elsewhere = datetime(2026, 12, 6, 18, 30, tzinfo=timezone(timedelta(hours=1)))
    values = [now, now, later, None, later, elsewhere, now]
    assert [process(value) for value in values] == [fresh(value) for value in values[::-1]][::-1]
    assert process(later) != process(now)
    assert process(elsewhere) == process(now)  # the same instant, stored alike


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_a_naive_datetime_is_refused_even_right_after_an_equal_aware_one(
    dialect: Dialect,
) -> None:
    process = _processor(dialect)
    aware = datetime(2026, 12, 6, 17, 30, tzinfo=UTC)
    process(aware)
    with pytest.raises(ValueError, match="naive"):
        process(aware.replace(tzinfo=None))


def test_each_text_read_after_a_repeated_one_is_parsed_as_itself() -> None:
    dialect = DIALECTS[0]
    parse = UTCDateTime().result_processor(dialect, None)
    fresh = UTCDateTime().result_processor(dialect, None)
    assert parse is not None and fresh is not None
    now, later = "2026-12-06 17:30:00.000001", "2026-12-06 17:30:01.000001"
    values = [now, "".join(now), later, None, later, None, now]  # equal texts, other objects
    assert [parse(value) for value in values] == [fresh(value) for value in values[::-1]][::-1]
    assert parse(now) == datetime(2026, 12, 6, 17, 30, 0, 1, tzinfo=UTC)
    assert parse(later) - parse(now) == timedelta(seconds=1)
    assert parse(None) is None
