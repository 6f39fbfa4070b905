"""Pbench Server's query parameters, read by its rules and refused in its words: unknown
keys are a 400 naming them; a scalar given twice is a 400; a list parameter (``metadata``,
``filter``, ``sort``) may repeat and split on every comma (not quote-aware, as Pbench);
booleans, integers, dates and ``access`` have their own texts (``core/pbench_metadata``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from starlette.datastructures import QueryParams

from dataloft.core.errors import Invalid
from dataloft.core.pbench_metadata import conversion_message, parse_bool, parse_date
from dataloft.core.pbench_query import split_list_param

ACCESS = ("private", "public")


class Query:
    def __init__(self, params: QueryParams, known: Collection[str], lists: Collection[str]) -> None:
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise Invalid(f"Unknown URL query keys: {','.join(unknown)}")
        for key in set(params) - set(lists):
            if len(params.getlist(key)) > 1:
                raise Invalid(f"Repeated URL query key {key!r}")
        self.params = params
        self.lists = frozenset(lists)

    def raw(self) -> dict[str, str | list[str]]:
        """The parameters as given: lists as lists of the raw values, scalars as text."""
        return {
            key: self.params.getlist(key) if key in self.lists else self.params[key]
            for key in self.params
        }

    def text(self, key: str) -> str | None:
        return self.params.get(key)

    def list(self, key: str) -> list[str]:
        return split_list_param(self.params.getlist(key))

    def flag(self, key: str) -> bool | None:
        value = self.params.get(key)
        return None if value is None else parse_bool(value)

    def number(self, key: str) -> int | None:
        value = self.params.get(key)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise Invalid(conversion_message(value, "int")) from None
        if number < 0:
            raise Invalid(conversion_message(value, "non-negative integer"))
        return number

    def date(self, key: str) -> datetime | None:
        value = self.params.get(key)
        return None if value is None else parse_date(value)

    def access(self) -> str | None:
        value = self.params.get("access")
        if value is None:
            return None
        if value.lower() not in ACCESS:
            raise Invalid(
                f"Unrecognized access keyword [{value!r}] for parameter access; "
                f"allowed keywords are {list(ACCESS)!r}"
            )
        return value.lower()


def within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    """Whether ``moment`` is in ``[start, end]`` (either end open when None)."""
    return (start is None or moment >= start) and (end is None or moment <= end)
