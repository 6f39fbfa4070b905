"""Pbench Server's dataset list query (``GET /api/v1/datasets``): its ``filter`` and
``sort`` terms, its ``keysummary`` tree and its ``daterange``, evaluated in Python over a
compact view of each dataset the caller may see (the caller loads those with one query).

Pbench answers these with SQL on PostgreSQL: one outer join per metadata namespace, a
JSON path read as text (``#>>``) and cast to the term's type. This module gives the same
answers without SQL, and these are the rules it keeps:

* **Terms** are ``[^]key:[op]value[:type]``. A key or value starting with ``'`` or ``"``
  is quoted (the other quote may nest inside) and so may hold ``:``; the first and last
  characters of a quoted token are dropped. Operators ``=`` (default) ``!=`` ``<`` ``>``
  ``<=`` ``>=`` and ``~`` (contains); types ``str`` (default) ``int`` ``bool`` ``date``.
  Terms AND together; a run of ``^`` terms is one OR group. The 400 texts are Pbench's.
* **Keys.** ``dataset.<column>`` (access, id, name, owner_id, resource_id, uploaded) is a
  typed column and ``dataset.owner`` the owner's username; any further path elements are
  ignored, as Pbench ignores them. ``dataset.metalog.*``, ``server.*``, ``global.*`` and
  ``user.*`` (the caller's own) are JSON paths, matched with exact case.
* **Values** are read as PostgreSQL reads them (``core.pbench_casts``): as text, what
  ``#>>`` gives (a column: its ``CAST(... AS VARCHAR)``); cast to ``int``, ``bool`` or
  ``date`` as PostgreSQL casts. PostgreSQL fails the whole query on one value it cannot
  cast (Pbench answers 500); here such a value is NULL for that dataset alone, so a
  typed term over mixed data still answers.
* **NULL** (an absent key, a path through a non-object, a JSON null, a failed cast)
  makes a term false, ``!=`` included, as SQL's three-valued logic does; it sorts last
  ascending and first descending, PostgreSQL's default that Pbench's tests rely on.
* **Contains** is SQL ``LIKE '%' || value || '%'``: case-sensitive, with ``_`` for any
  one character, ``%`` for any run and ``\\`` escaping the next, exactly as Pbench's
  unescaped ``contains()`` behaves. Text sorts and compares by code point (collation
  ``C``). A sort ties on resource ID, ascending, after its own keys.

Where Pbench would answer 500 this module answers 400 instead: a typed term on
``dataset.owner``, ``~`` on a type other than ``str``, and the bare key ``dataset`` (or
``dataset.operations``) in a filter or sort. One deliberate difference: ``int`` is
accepted on the integer columns ``id`` and ``owner_id`` (Pbench's type check rejects it
there only because its ``Integer`` column is not a ``BigInteger``).
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Final, Literal

from dataloft.core.errors import Invalid, Unauthenticated
from dataloft.core.pbench_casts import CASTS, Like, parse_date, utc
from dataloft.core.pbench_metadata import NAMESPACES


class _Missing(enum.Enum):
    MISSING = enum.auto()


# What a lookup finds where a key is absent or its path crosses a non-object.
MISSING: Final = _Missing.MISSING
Missing = Literal[_Missing.MISSING]

TYPES: Final = ("bool", "date", "int", "str")
# Longest first, so that "<=" is not read as "<" followed by a value "=...".
OPERATORS: Final = ("<=", ">=", "!=", "~", "=", "<", ">")
# The dataset columns a filter or sort may name, with their native type.
COLUMNS: Final = {
    "access": "str",
    "id": "int",
    "name": "str",
    "owner_id": "int",
    "resource_id": "str",
    "uploaded": "date",
}

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


@dataclass(frozen=True, slots=True)
class DatasetView:
    """One dataset as the list query sees it: its columns and its metadata documents."""

    resource_id: str  # 32 lowercase hex
    name: str
    owner: str  # the owner's username
    owner_id: int
    id: int
    access: str  # "private" | "public"
    uploaded: datetime  # aware UTC
    metalog: dict[str, Any]  # dataset.metalog: {section: {option: str}}
    server: dict[str, Any]
    global_: dict[str, Any]
    user: dict[str, Any] | None  # the caller's user.* document; None when anonymous
    operations: dict[str, Any]

    def lookup(self, key: str) -> Any | Missing:
        """The JSON value at ``key`` as filters and sorts see it (``dataset.id``,
        ``dataset.resource_id`` and ``dataset.owner_id`` included), or ``MISSING``. The
        namespace and the dataset field ignore case; JSON path elements do not."""
        parts = key.split(".")
        namespace = parts[0].lower()
        if namespace == "dataset":
            document = self._dataset_document(columns=True)
            if len(parts) == 1:
                return document
            return _walk(document, (parts[1].lower(), *parts[2:]))
        return _walk(_document(self, namespace), parts[1:])

    def metadata_value(self, key: str) -> Any | Missing:
        """The value ``metadata=key`` reports, by Pbench's metadata rules: ``dataset.*``
        offers access, name, owner, uploaded, metalog and operations only (its SQL
        columns answer null there); each path element is matched exactly, else in lower
        case; an empty element, an absent key or a path through a non-object is
        ``MISSING`` (reported as null)."""
        parts = key.split(".")
        if "" in parts:
            return MISSING
        namespace = parts[0].lower()
        value: Any = (
            self._dataset_document(columns=False)
            if namespace == "dataset"
            else _document(self, namespace)
        )
        for part in parts[1:]:
            if not isinstance(value, dict):
                return MISSING
            if part in value:
                value = value[part]
            elif part.lower() in value:
                value = value[part.lower()]
            else:
                return MISSING
        return value

    def _dataset_document(self, *, columns: bool) -> dict[str, Any]:
        document: dict[str, Any] = {
            "access": self.access,
            "name": self.name,
            "owner": self.owner,
            "uploaded": self.uploaded.astimezone(UTC).isoformat(),
            "metalog": self.metalog or None,
            "operations": self.operations,
        }
        if columns:
            document |= {"id": self.id, "owner_id": self.owner_id, "resource_id": self.resource_id}
            if not self.metalog:  # a lookup finds no metalog rather than a null one
                del document["metalog"]
        return document


# An empty namespace document is a namespace with nothing in it, as if Pbench had no
# metadata row for it (dataloft keeps all namespaces in one document).
_DOCUMENTS: Final[dict[str, Callable[[DatasetView], Any]]] = {
    "metalog": lambda view: view.metalog or MISSING,
    "server": lambda view: view.server or MISSING,
    "global": lambda view: view.global_ or MISSING,
    "user": lambda view: view.user or MISSING,
}


def _document(view: DatasetView, namespace: str) -> Any:
    found = _DOCUMENTS.get(namespace)
    return MISSING if found is None else found(view)


def _walk(value: Any, path: Sequence[str], missing: Any = MISSING) -> Any:
    """The value at ``path`` under ``value``, or ``missing``."""
    for part in path:
        if not isinstance(value, dict):
            return missing
        value = value.get(part, missing)
    return missing if value is MISSING else value


def _cast(get: Callable[[DatasetView], Any], type_name: str) -> Callable[[DatasetView], Any]:
    """``get`` followed by the cast to ``type_name`` (None where it does not cast)."""
    cast = CASTS[type_name]
    return lambda view: cast(get(view))


# --- keys ------------------------------------------------------------------------------


def _bad_key(key: str) -> Invalid:
    return Invalid(f"Metadata key {key!r} is not supported")


def _is_key_path(key: str) -> bool:
    # Pbench checks the namespace only, and refuses empty elements ("a..b", "a.").
    path = key.lower().split(".")
    return "" not in path and path[0] in NAMESPACES


@dataclass(frozen=True)
class _Target:
    """What a filter or sort term reads: ``get`` gives a column's native value or the
    JSON value at a path (None for NULL); ``column`` is the column's native type, None
    for a JSON path."""

    name: str
    get: Callable[[DatasetView], Any]
    column: str | None


def _target(key: str) -> _Target:
    parts = key.split(".")
    namespace = parts[0].lower()
    if namespace != "dataset":
        path = tuple(parts[1:])
        document = _DOCUMENTS[namespace]
        return _Target(key, lambda view: _walk(document(view), path, None), None)
    field_name = parts[1].lower() if len(parts) > 1 else ""
    if field_name == "metalog":
        path = tuple(parts[2:])
        return _Target(key, lambda view: _walk(view.metalog or MISSING, path, None), None)
    if field_name == "owner":
        return _Target("dataset.owner", attrgetter("owner"), "str")
    if field_name not in COLUMNS:
        raise _bad_key(key)
    return _Target(f"dataset.{field_name}", attrgetter(field_name), COLUMNS[field_name])


# --- filters ---------------------------------------------------------------------------

Test = Callable[[DatasetView], bool]


def split_list_param(values: Iterable[str]) -> list[str]:
    """A list query parameter as Pbench reads it: every value split on ``,``, quotes or
    not (so a filter value cannot hold a comma)."""
    return [part for value in values for part in value.split(",")]


def _token(term: str, start: int, *, optional: bool) -> tuple[str, int]:
    """The token of ``term`` from ``start`` up to an unquoted ``:``, unquoted, and where
    the next token starts. A quote closes the innermost open quote of its kind only if
    that is the last one opened; otherwise it opens another."""
    opened: list[int] = []
    for index in range(start, len(term)):
        character = term[index]
        if character == ":" and not opened:
            token, after = term[start:index], index + 1
            break
        if character in "'\"":
            if opened and term[opened[-1]] == character:
                opened.pop()
            else:
                opened.append(index)
    else:
        if opened:
            at = opened[-1]
            marked = f"{term[:at]}[{term[at]}]{term[at + 1 :]}"
            raise Invalid(f"Unterminated quote at {marked!r}")
        token, after = term[start:], len(term)
        if not optional:
            raise Invalid(f"Missing ':' terminator after {token!r}")
    return (token[1:-1] if token[:1] in ("'", '"') else token), after


def _convert(raw: str, type_name: str) -> Any:
    """A filter's value in its type, parsed once; Pbench's texts when it does not parse."""
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "date":
            return parse_date(raw)
    except (ValueError, OverflowError):
        expected = "int" if type_name == "int" else "date/time string"
        raise Invalid(f"Value {raw!r} (str) cannot be parsed as a {expected}") from None
    if type_name == "bool":
        if raw.lower() in ("t", "true", "y", "yes"):
            return True
        if raw.lower() in ("f", "false", "n", "no"):
            return False
        raise Invalid(f"Value {raw!r} (str) cannot be parsed as a boolean")
    return raw


def _contains(get: Callable[[DatasetView], Any], value: str) -> Test:
    if not any(character in value for character in "%_\\"):
        return lambda view: (text := get(view)) is not None and value in text
    like = Like(f"%{value}%")
    return lambda view: (text := get(view)) is not None and like.matches(text)


def _parse_term(term: str, *, authenticated: bool) -> tuple[bool, Test]:
    """One filter term: whether it joins an OR group, and its test."""
    either = term.startswith("^")
    key, at = _token(term, 1 if either else 0, optional=False)
    if not _is_key_path(key):
        raise _bad_key(key)
    op = next((o for o in OPERATORS if term.startswith(o, at)), None)
    if op is None:
        op = "="
    else:
        at += len(op)
    raw, at = _token(term, at, optional=True)
    type_name = term[at:].lower() or "str"
    if type_name not in TYPES:
        raise Invalid(f"The metadata type {type_name!r} must be one of {','.join(TYPES)}")
    if not raw:
        raise Invalid(f"Metadata {term!r} must have the form 'k:v[:type]'")
    value = _convert(raw, type_name)
    target = _target(key)
    if target.column is not None and type_name not in ("str", target.column):
        raise Invalid(f"Filter of type {type_name!r} is not compatible with key '{target.name}'")
    if key.split(".")[0].lower() == "user" and not authenticated:
        raise Unauthenticated(f"Metadata key {key} cannot be used by an unauthenticated client")
    if op == "~" and type_name != "str":
        raise Invalid(f"Filter operator '~' is not compatible with type {type_name!r}")
    # A column read in its own type needs no cast; a JSON path or a column read as
    # text does.
    get = target.get if target.column == type_name else _cast(target.get, type_name)
    if op == "~":
        return either, _contains(get, value)
    compare = _COMPARE[op]
    return either, lambda view: (stored := get(view)) is not None and compare(stored, value)


@dataclass(frozen=True)
class Filter:
    """Parsed filter terms: every group must hold, and a group holds when any of its
    tests does (a plain term is a group of one)."""

    groups: tuple[tuple[Test, ...], ...] = ()

    def matches(self, view: DatasetView) -> bool:
        for group in self.groups:
            for test in group:
                if test(view):
                    break
            else:
                return False
        return True

    def select(self, views: Iterable[DatasetView]) -> list[DatasetView]:
        return [view for view in views if self.matches(view)]


def parse_filters(terms: Sequence[str], *, authenticated: bool) -> Filter:
    """The ``filter`` terms (already split by ``split_list_param``) as one ``Filter``.
    Raises ``Invalid`` (or ``Unauthenticated`` for ``user.*`` when anonymous) for the
    first bad term, with Pbench's text."""
    groups: list[tuple[Test, ...]] = []
    either_run: list[Test] = []
    for term in terms:
        either, test = _parse_term(term, authenticated=authenticated)
        if either:
            either_run.append(test)
            continue
        if either_run:
            groups.append(tuple(either_run))
            either_run = []
        groups.append((test,))
    if either_run:
        groups.append(tuple(either_run))
    return Filter(tuple(groups))


# --- sorts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    """One ``sort`` term. ``value_of`` gives the value ordered by, None for NULL."""

    key: str
    descending: bool
    type: str
    value_of: Callable[[DatasetView], Any] = field(repr=False, compare=False)

    def sort_key(self, view: DatasetView) -> tuple[int] | tuple[int, Any]:
        # NULL's key is above every value: last ascending, first when reversed.
        value = self.value_of(view)
        return (1,) if value is None else (0, value)


def parse_sorts(terms: Sequence[str]) -> list[Sort]:
    """The ``sort`` terms, ``key[:asc|desc[:type]]``, with Pbench's 400 texts. A column
    named without a type sorts by its own type; ``dataset.owner`` always by username."""
    sorts = []
    for term in terms:
        key, order, type_name, typed = term, "asc", "str", False
        if ":" in term:
            key, order, *rest = term.split(":", 2)
            type_name, typed = (rest[0], True) if rest else ("str", False)
            if order.lower() not in ("asc", "desc"):
                raise Invalid(f"The sort order {order!r} for key {key!r} must be 'asc' or 'desc'")
            if type_name not in TYPES:  # case-sensitive, unlike a filter's type
                raise Invalid(f"The sort type must be one of {','.join(TYPES)}")
        if not _is_key_path(key):
            raise _bad_key(key)
        target = _target(key)
        value_of = target.get
        if target.column is None or (typed and target.name != "dataset.owner"):
            value_of = _cast(target.get, type_name)
        sorts.append(Sort(key, order.lower() == "desc", type_name, value_of))
    return sorts


def sort_views(views: Iterable[DatasetView], sorts: Sequence[Sort]) -> list[DatasetView]:
    """``views`` in ``sorts`` order (none: by resource ID). Ties keep resource ID order:
    Python's sort is stable, so sorting by the last key first builds the whole order."""
    ordered = sorted(views, key=attrgetter("resource_id"))
    for sort in reversed(sorts):
        ordered.sort(key=sort.sort_key, reverse=sort.descending)
    return ordered


# --- key summary and date range --------------------------------------------------------


def _accumulate(tree: dict[str, Any], key: str, value: Any) -> None:
    # An object anywhere wins over a leaf of the same name, in whichever order they come.
    if isinstance(value, dict):
        branch = tree.get(key)
        if branch is None:
            branch = tree[key] = {}
        for name, child in value.items():
            _accumulate(branch, name, child)
    elif key not in tree:
        tree[key] = None


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_tree(v) if isinstance(v, dict) else v for k, v in sorted(tree.items())}


def key_summary(views: Iterable[DatasetView]) -> dict[str, Any]:
    """``keysummary=true``: every metadata key of the views as a tree with null leaves,
    ``dataset`` holding its columns, ``owner`` and ``metalog``; ``{"keys": {}}`` for no
    views. Keys are sorted, as Pbench's ``jsonify`` sorts them."""
    keys: dict[str, Any] = {}
    for view in views:
        if not keys:
            keys["dataset"] = dict.fromkeys([*COLUMNS, "owner"])
        if view.metalog:
            _accumulate(keys["dataset"], "metalog", view.metalog)
        for namespace in ("global", "server", "user"):
            document = _document(view, namespace)
            if document is not MISSING:
                _accumulate(keys, namespace, document)
    return {"keys": _sorted_tree(keys)}


def date_range(views: Iterable[DatasetView]) -> dict[str, str]:
    """``daterange=true``: the first and last upload times, or ``{}`` for no views."""
    moments = [view.uploaded for view in views]
    if not moments:
        return {}
    return {"from": utc(min(moments)).isoformat(), "to": utc(max(moments)).isoformat()}
