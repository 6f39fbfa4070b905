"""UFDL's FilterSpec, the body of every ``POST .../list``, read into the core's
``QuerySpec`` (``dataloft.core.query_filter``), which does the filtering.

The original validates the body against a strict JSON schema (``ufdl.json.core.filter``
in ufdl-json-messages) before Django sees it, so this reads it as strictly: every key
known, every value of its type, ``and``/``or`` with at least two items and nested only
as the schema allows (an ``or`` may hold ``and``s, an ``and`` only field tests). A body
that breaks a rule is ``Invalid`` with the place it breaks it, e.g.
``expressions[1].sub_expressions[0]: unknown key 'foo'``.

Two leniencies, on purpose. Field names are dotted (``project.team.name``) as UFDL writes
them, and Django's ``project__team__name`` means the same; the original takes the ``__``
spelling only in ``order_by`` and the dotted one only in expressions. Whether a field
exists, and whether a value suits it, is the core's to say: its ``Invalid`` answers a 400
where the original crashed with a 500.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from dataloft.core.errors import Invalid
from dataloft.core.query_filter import (
    AllOf,
    AnyOf,
    Expression,
    FieldTest,
    Operator,
    Ordering,
    QuerySpec,
    Value,
)

_SPEC_KEYS = frozenset({"expressions", "order_by", "include_inactive"})
_ORDER_KEYS = frozenset({"field", "ascending", "nulls_first"})
_REQUIRED_KEYS = {
    "exact": frozenset({"field", "value"}),
    "contains": frozenset({"field", "sub_string"}),
    "isnull": frozenset({"field"}),
    "compare": frozenset({"field", "operator", "value"}),
    "and": frozenset({"sub_expressions"}),
    "or": frozenset({"sub_expressions"}),
}
_TYPES = frozenset(_REQUIRED_KEYS)
# Every type also takes "type" and "invert"; the two that match text "case_insensitive".
_CASE = frozenset({"case_insensitive"})
_KEYS = {
    kind: required | {"type", "invert"} | (_CASE if kind in {"exact", "contains"} else set())
    for kind, required in _REQUIRED_KEYS.items()
}
_FIELD_TESTS = frozenset({"exact", "contains", "isnull", "compare"})
# What each place may hold: an ``and`` only field tests, an ``or`` those and ``and``s.
_INSIDE = {
    "and": _FIELD_TESTS,
    "or": _FIELD_TESTS | {"and"},
}
_OPERATORS: dict[str, Operator] = {"<": "lt", ">": "gt", "<=": "le", ">=": "ge"}


def parse_filter_spec(body: object) -> QuerySpec:
    """The query a list request's body asks for: ``None`` (no body) and ``{}`` ask for
    everything."""
    if body is None:
        return QuerySpec()
    spec = _object(body, "", _SPEC_KEYS, required=())
    expressions = _list(spec.get("expressions", []), "expressions", minimum=0)
    order_by = _list(spec.get("order_by", []), "order_by", minimum=0)
    return QuerySpec(
        expressions=tuple(
            _expression(item, f"expressions[{n}]", _TYPES) for n, item in enumerate(expressions)
        ),
        ordering=tuple(_ordering(item, f"order_by[{n}]") for n, item in enumerate(order_by)),
        include_inactive=_flag(spec, "include_inactive", "", default=False),
    )


def _expression(raw: object, where: str, allowed: frozenset[str]) -> Expression:
    raw = _mapping(raw, where)
    if "type" not in raw:
        raise _invalid(where, _keys("missing", ["type"]))
    kind = raw["type"]
    if not isinstance(kind, str):
        raise _invalid(_join(where, "type"), f"must be a string, not {_kind(kind)}")
    if kind not in _TYPES:
        raise _invalid(where, f"unknown type {_shown(kind)}; types: {', '.join(sorted(_TYPES))}")
    if kind not in allowed:
        raise _invalid(
            where, f"{kind!r} is not allowed here; allowed: {', '.join(sorted(allowed))}"
        )
    body = _object(raw, where, _KEYS[kind], required=_REQUIRED_KEYS[kind])
    invert = _flag(body, "invert", where, default=False)
    if kind in _INSIDE:
        items = _list(body["sub_expressions"], _join(where, "sub_expressions"), minimum=2)
        sub = tuple(
            _expression(item, f"{_join(where, 'sub_expressions')}[{n}]", _INSIDE[kind])
            for n, item in enumerate(items)
        )
        return AllOf(sub, invert) if kind == "and" else AnyOf(sub, invert)
    field = _field_name(body["field"], _join(where, "field"))
    case_insensitive = _flag(body, "case_insensitive", where, default=False)
    if kind == "isnull":
        return FieldTest(field, "isnull", invert=invert)
    if kind == "contains":
        sub_string = body["sub_string"]
        if not isinstance(sub_string, str) or not sub_string:
            raise _invalid(_join(where, "sub_string"), "must be a non-empty string")
        return FieldTest(field, "contains", sub_string, case_insensitive, invert)
    value = _value(body["value"], _join(where, "value"), booleans=kind == "exact")
    if kind == "exact":
        return FieldTest(field, "exact", value, case_insensitive, invert)
    comparison = body["operator"]
    if not isinstance(comparison, str) or comparison not in _OPERATORS:
        raise _invalid(
            _join(where, "operator"),
            f"must be one of {', '.join(_OPERATORS)}, not {_described(comparison)}",
        )
    return FieldTest(field, _OPERATORS[comparison], value, invert=invert)


def _ordering(raw: object, where: str) -> Ordering:
    body = _object(raw, where, _ORDER_KEYS, required=("field",))
    return Ordering(
        field=_field_name(body["field"], _join(where, "field")),
        ascending=_flag(body, "ascending", where, default=True),
        nulls_first=_optional_flag(body, "nulls_first", where),
    )


def _object(
    raw: object, where: str, keys: Collection[str], *, required: Collection[str]
) -> dict[str, Any]:
    """``raw`` as an object of these ``keys`` only, with all the ``required`` ones."""
    raw = _mapping(raw, where)
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise _invalid(where, f"{_keys('unknown', unknown)}; keys: {', '.join(sorted(keys))}")
    missing = sorted(set(required) - set(raw))
    if missing:
        raise _invalid(where, _keys("missing", missing))
    return raw


def _keys(what: str, keys: list[str]) -> str:
    return f"{what} key{'s' if len(keys) > 1 else ''} {', '.join(map(repr, keys))}"


def _mapping(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _invalid(where, f"must be an object, not {_kind(raw)}")
    return raw


def _list(raw: object, where: str, *, minimum: int) -> list[Any]:
    if not isinstance(raw, list):
        raise _invalid(where, f"must be an array, not {_kind(raw)}")
    if len(raw) < minimum:
        raise _invalid(where, f"must have at least {minimum} items, not {len(raw)}")
    return raw


def _flag(body: dict[str, Any], key: str, where: str, *, default: bool) -> bool:
    value = _optional_flag(body, key, where)
    return default if value is None else value


def _optional_flag(body: dict[str, Any], key: str, where: str) -> bool | None:
    """``body[key]``, which must be true or false when there (never null); None when not."""
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, bool):
        raise _invalid(_join(where, key), f"must be true or false, not {_kind(value)}")
    return value


def _field_name(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise _invalid(where, "must be a non-empty string")
    # Django's separator for related fields, read as UFDL's dot.
    return raw.replace("__", ".")


def _value(raw: object, where: str, *, booleans: bool) -> Value:
    """A string or a finite number (and true or false when ``booleans``)."""
    if isinstance(raw, bool):
        if booleans:
            return raw
    elif isinstance(raw, str):
        return raw
    elif isinstance(raw, int | float):
        if math.isfinite(raw):
            return raw
        raise _invalid(where, "must be a finite number")
    takes = "a string, a number, true or false" if booleans else "a string or a number"
    raise _invalid(where, f"must be {takes}, not {_kind(raw)}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _invalid(where: str, problem: str) -> Invalid:
    return Invalid(f"{where or 'filter spec'}: {problem}")


def _kind(value: object) -> str:
    """A JSON value's type, for messages (the value itself may be long)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _shown(text: str) -> str:
    """A string the client sent, quoted, cut short: messages echo it."""
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def _described(value: object) -> str:
    return _shown(value) if isinstance(value, str) else _kind(value)
