"""Opaque keyset cursors: URL-safe base64 of a small JSON list of the last key seen."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Row, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from dataloft.core.decoding import DecodeLimits
from dataloft.core.errors import Invalid, LoftError
from dataloft.core.results import Page
from dataloft.core.values import parse_plain_json

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

MAX_LIMIT = 1000
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DEFAULT_LIMIT = 100
# A cursor is a short flat list (a key of a path or id and a number or two); anything else
# a client sends as one is refused before json.loads sees it.
_CURSOR = DecodeLimits(depth=1, elements=16, members=8, string_length=64 * 1024)


def ascii_natural(text: str) -> int | None:
    """``text`` as a non-negative integer when it is ASCII digits only, else None: the one
    way a number a client writes is read. ``str.isdigit`` and ``int`` also take other
    scripts' digits and superscripts ("\u00b2" passes ``isdigit`` and then fails ``int``;
    "\u0663" is 3), which no client means as a number."""
    return int(text) if text.isascii() and text.isdigit() else None


def is_row_id(value: int) -> bool:
    """Whether a number a client sent can name a row (ids are 32-bit columns). One that
    cannot names nothing, and must not reach the database: SQLite cannot even bind an
    integer past 64 bits."""
    return INT_MIN <= value <= INT_MAX


def encode_cursor(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> list[Any]:
    """Decode a cursor made by ``encode_cursor``; its items must have the given types."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = parse_plain_json(base64.urlsafe_b64decode(padded.encode("ascii")), _CURSOR)
    except (LoftError, ValueError, binascii.Error, UnicodeError):
        raise Invalid(f"invalid cursor {cursor!r}") from None
    if not isinstance(key, list) or len(key) != len(types):
        raise Invalid(f"invalid cursor {cursor!r}")
    for item, kind in zip(key, types, strict=True):
        if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
            raise Invalid(f"invalid cursor {cursor!r}")
        if isinstance(item, str) and "\x00" in item:
            raise Invalid(f"invalid cursor {cursor!r}")
        if isinstance(item, int) and not INT_MIN <= item <= INT_MAX:  # ids are 32-bit
            raise Invalid(f"invalid cursor {cursor!r}")
    return key


def clamp_limit(limit: int | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if limit is None:
        return default
    if limit < 1:
        raise Invalid("limit must be at least 1")
    return min(limit, maximum)


def every(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a keyset-paginated listing: ``fetch(cursor)`` returns one page, and is
    called again with its ``next_cursor`` until a page has none. Each page is read on its
    own, so a long listing holds no transaction open between pages."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def keyset_rows(
    session: Session,
    query: Select[*Ts],
    key: InstrumentedAttribute[Any],
    kind: type,
    *,
    limit: int | None,
    cursor: str | None,
    descending: bool = False,
) -> tuple[list[Row[*Ts]], str | None]:
    """One page of ``query`` ordered by the unique column ``key`` (of Python type
    ``kind``), after the key in ``cursor``; the rows, and the cursor of the next page
    (None on the last). Its first selected entity must carry ``key``'s attribute."""
    size = clamp_limit(limit)
    query = query.order_by(key.desc() if descending else key).limit(size + 1)
    if cursor:
        (last,) = decode_cursor(cursor, kind)
        query = query.where(key < last if descending else key > last)
    rows = list(session.execute(query).all())
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last_row: Any = rows[-1]
    return rows, encode_cursor(getattr(last_row[0], key.key))
