"""How Pbench's PostgreSQL reads a stored metadata value, for ``core.pbench_query``, which
evaluates Pbench's dataset list filters and sorts in Python: the text of a value, its
casts to ``int``, ``bool`` and a time stamp, ``LIKE``, and the reading of a filter's date.

* **Text** is what ``#>>`` gives on Pbench's ``json`` column: a string as it is, any
  other value as the JSON text Pbench stored (``json.dumps``), JSON null as NULL (None).
  A time stamp column cast to text reads ``2023-03-23 20:26:03.5``: naive UTC, a space
  before the time, no trailing zeros in the fraction.
* **int** is optional blanks, a sign and decimal digits, within 64 bits (``int8in``).
* **bool** is ``boolin``: after trimming blanks, any prefix of true, false, yes or no,
  and ``on``, ``of[f]``, ``1``, ``0``, in any case.
* **date.** A stored text must name a full date; the time and the offset are optional
  and no offset means UTC. It is read as ``dateutil.parser.parse`` reads it (the ISO 8601
  forms through ``datetime.fromisoformat``, which gives the same moment fifty times
  faster). PostgreSQL drops a stored offset when casting to Pbench's ``timestamp without
  time zone``; here it counts, as the offset of a filter's value does in Pbench.

Each cast gives None where PostgreSQL would refuse the value. PostgreSQL then fails the
whole query (Pbench answers 500); the list query treats the value as NULL instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Final

from dateutil import parser as date_parser

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_BLANKS = " \t\n\r\f\v"  # PostgreSQL's isspace(), which its int and bool input trims
_PG_INT = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)[ \t\n\r\f\v]*")
# ISO 8601 texts that datetime.fromisoformat reads exactly as dateutil does, in about a
# microsecond rather than fifty (metalog time stamps are nearly all like this).
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
# A stored text is read twice with these defaults: it names a full date only if both
# readings agree on the date (PostgreSQL refuses "4" or "10:00" as a time stamp, where
# dateutil alone would fill in today's month or date).
_PROBE_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))
# PostgreSQL's MAXDATELEN: it refuses a longer time stamp text. This also bounds what the
# cache of stored dates holds.
_DATE_TEXT_MAX = 128


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _offset_only(_name: str | None, offset: int | None) -> tzinfo | None:
    """dateutil's ``tzinfos``: keep a numeric offset, read a zone name it cannot place as
    UTC. (Without it dateutil warns on such a name and consults the host's zone.)"""
    return None if offset is None else timezone(timedelta(seconds=offset))


def parse_date(text: str) -> datetime:
    """A filter's date as Pbench reads it (``dateutil.parser.parse``, so missing parts
    come from today), in UTC. Raises ``ValueError`` or ``OverflowError``."""
    return utc(date_parser.parse(text, tzinfos=_offset_only))


def _stored_date(text: str) -> datetime | None:
    return None if len(text) > _DATE_TEXT_MAX else _short_stored_date(text)


# Stored dates repeat (deletion days, the same run's time stamps), and dateutil is slow.
@lru_cache(maxsize=65536)
def _short_stored_date(text: str) -> datetime | None:
    if _ISO.fullmatch(text):
        try:
            return utc(datetime.fromisoformat(text))
        except ValueError:
            pass  # "2023-02-30" and the like: dateutil decides
    try:
        first, second = (
            date_parser.parse(text, default=default, tzinfos=_offset_only)
            for default in _PROBE_DEFAULTS
        )
    except (ValueError, OverflowError):
        return None
    return utc(first) if first.date() == second.date() else None


def _pg_timestamp(moment: datetime) -> str:
    moment = utc(moment)
    text = f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}"
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text


def pg_text(value: Any) -> str | None:
    """The text of a JSON value (or a time stamp column); None for NULL."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return _pg_timestamp(value)
    return json.dumps(value)


def _pg_int(text: str) -> int | None:
    match = _PG_INT.fullmatch(text)
    if match is None:
        return None
    number = int(match[1])
    return number if INT64_MIN <= number <= INT64_MAX else None


def _pg_bool(text: str) -> bool | None:
    word = text.strip(_BLANKS).lower()
    if not word:
        return None
    if "true".startswith(word) or "yes".startswith(word) or word in ("on", "1"):
        return True
    if "false".startswith(word) or "no".startswith(word) or word in ("of", "off", "0"):
        return False
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if INT64_MIN <= value <= INT64_MAX else None
    text = None if isinstance(value, datetime) else pg_text(value)
    return None if text is None else _pg_int(text)


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = None if isinstance(value, datetime) else pg_text(value)
    return None if text is None else _pg_bool(text)


def as_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return utc(value)
    text = pg_text(value)
    return None if text is None else _stored_date(text)


# The cast of a stored value (or a column's native value) to each filter and sort type.
CASTS: Final[dict[str, Callable[[Any], Any]]] = {
    "str": pg_text,
    "int": as_int,
    "bool": as_bool,
    "date": as_date,
}


class Like:
    """A SQL ``LIKE`` pattern (``_`` any one character, ``%`` any run, ``\\`` escaping
    the next), matched piece by piece: the runs between ``%`` have a fixed length, so
    each is found at its leftmost place and nothing backtracks (a regular expression of
    ``.*`` runs could take exponential time on a hostile value)."""

    def __init__(self, pattern: str) -> None:
        pieces: list[list[str]] = [[]]
        characters = iter(pattern)
        for character in characters:
            if character == "%":
                pieces.append([])
            elif character == "_":
                pieces[-1].append(".")
            else:
                # PostgreSQL refuses a pattern ending in the escape; here it is literal.
                literal = next(characters, "\\") if character == "\\" else character
                pieces[-1].append(re.escape(literal))
        self._pieces = [(re.compile("".join(p), re.DOTALL), len(p)) for p in pieces]

    def matches(self, text: str) -> bool:
        if len(self._pieces) == 1:
            return self._pieces[0][0].fullmatch(text) is not None
        (head, head_size), *middle, (tail, tail_size) = self._pieces
        start, end = head_size, len(text) - tail_size
        if end < start or not head.match(text) or not tail.fullmatch(text, end):
            return False
        for piece, _size in middle:
            found = piece.search(text, start, end)
            if found is None:
                return False
            start = found.end()
        return True
