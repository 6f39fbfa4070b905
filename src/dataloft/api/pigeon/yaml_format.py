"""Record values as YAML, the way Pigeon Optics writes them: the JSON ``{type, data}`` tags
for what plain YAML lacks, with a Buffer's data as a hex string; a stream is documents,
each between ``---`` and ``...``.

Reading follows YAML 1.2's core schema, as JavaScript's YAML libraries do: ``yes``, ``on``
and ``2021-07-02`` stay strings (PyYAML's default, YAML 1.1, would turn them into booleans
and dates), and ``012`` is twelve. Explicit tags give ``!!timestamp`` as a Date, ``!!set``
as a Set, ``!!binary`` as a Buffer, and ``!!omap``/``!!pairs`` as lists of pairs.

A body is parsed twice: once to count its events against ``dataloft.core.decoding``'s
limits, building nothing (``_count_events``), then to build its values straight from the
events (``_Builder``). PyYAML's own loader first builds a tree of nodes for the whole
document, each with two source positions: 650 bytes and 20 microseconds a node in pure
Python (350 bytes and 3 with libyaml), so 300 KB of ``[],`` took 2 s and 64 MB before it
had made a single value, and a limit checked on the value would come too late. Events
come one at a time from libyaml's parser, which keeps nothing. Aliases are refused: a few
bytes of them can stand for a value too large to store (the "billion laughs").
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any

import yaml

from dataloft.core.decoding import (
    MAX_INTEGER_DIGITS,
    DecodeLimits,
    bad_key,
    check_integer,
    integer_too_large,
)
from dataloft.core.errors import Invalid
from dataloft.core.values import (
    JSDate,
    JSSet,
    check_value,
    to_jsonable,
    untag,
)

# libyaml's parser when PyYAML was built with it (the wheels are), else PyYAML's own. Both
# give the same events; only the parser is used (see _Builder), with SafeLoader's resolver
# and scalar constructors.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The parser, the core schema's resolver and SafeLoader's scalar constructors."""


def _integer(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0x"):
        return check_integer(sign * int(digits[2:], 16))
    if digits.startswith("0o"):
        return check_integer(sign * int(digits[2:], 8))
    if len(digits) > MAX_INTEGER_DIGITS:  # int() would refuse it with a ValueError
        raise integer_too_large()
    return sign * int(digits, 10)


# The core schema's plain scalars, in place of PyYAML's YAML 1.1 resolvers.
_Loader.yaml_implicit_resolvers = {}
_CORE_SCALARS = [
    # (tag, pattern, the characters such a scalar can start with; "" is the empty scalar)
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", [*"~nN", ""]),
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", list("tTfF")),
    ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        list("-+.0123456789"),
    ),
]
for _tag, _pattern, _first in _CORE_SCALARS:
    _Loader.add_implicit_resolver(_tag, re.compile(f"^(?:{_pattern})$"), _first)

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(
    _YAML + name for name in ("null", "bool", "int", "float", "str", "binary", "timestamp")
)
_STR, _INT = _YAML + "str", _YAML + "int"
_SEQ, _OMAP, _PAIRS = _YAML + "seq", _YAML + "omap", _YAML + "pairs"
_MAP, _SET = _YAML + "map", _YAML + "set"
# A key may be an integer only within 64 bits (see dataloft.core.decoding: bigger ones can
# be chosen to collide in Python's hash).
_KEY_INTEGERS = range(-(2**63), 2**64)


def _date(moment: datetime.date) -> JSDate:
    """A ``!!timestamp`` as a Date (a date alone is its midnight, UTC)."""
    if not isinstance(moment, datetime.datetime):
        moment = datetime.datetime(moment.year, moment.month, moment.day)
    stamp = moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    return JSDate(round(stamp.timestamp() * 1000, 3))


_NO_KEY = object()
# Elements each parser event costs (see _count_events).
_EVENT_COST = 2


def _count_events(raw: bytes, limits: DecodeLimits) -> None:
    """Parse the stream once, building nothing, and refuse it at the first event past a
    limit: too many events, too deep, an alias. Values are built only from a stream that
    passed (``_Builder``), because building while counting held up to 60 MB of values by
    the time a bomb reached the limit (measured: a million events of ``!!set {}``).

    Every event costs two elements: a scalar, a collection's start, and its end. YAML is
    slow to parse: libyaml alone takes half a microsecond an event, and an empty
    collection is two events, where a JSON or CBOR scan takes a tenth of that for one
    element. Counted so, the default limit refuses 2 MB of ``[],`` in half a second, while
    a 20 MB body of records still fits."""
    loader = _Loader(raw)
    try:
        get_event, events, depth = loader.get_event, 0, 0
        budget = limits.elements // _EVENT_COST
        while True:
            kind = get_event().__class__
            events += 1
            if events > budget:
                raise limits.too_many_elements()
            if kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                depth += 1
                if depth > limits.depth:
                    raise limits.too_deep()
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                depth -= 1
            elif kind is yaml.AliasEvent:
                raise Invalid("YAML aliases (*name) are not accepted")
            elif kind is yaml.StreamEndEvent:
                return
    finally:
        loader.dispose()


class _Builder:
    """Values from the events of a YAML stream that ``_count_events`` passed, one document
    at a time. Written for speed: the open collections are three parallel stacks, not
    objects, and the common scalars are read without a node or a constructor call."""

    def __init__(self, loader: _Loader, limits: DecodeLimits) -> None:
        self.loader = loader
        self.limits = limits

    def documents(self) -> Iterator[Any]:
        loader = self.loader
        loader.get_event()  # the stream's start
        while not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # the document's start
            value = self._document()
            loader.get_event()  # the document's end
            check_value(value, self.limits)
            yield value

    def _document(self) -> Any:
        limits, get_event = self.limits, self.loader.get_event
        collections: list[Any] = []  # the open sequences (lists) and mappings (dicts)
        tags: list[str] = []
        keys: list[Any] = []  # of each open mapping, the key awaiting its value
        while True:
            event = get_event()
            kind = event.__class__
            if kind is yaml.ScalarEvent:
                value, scalar = self._scalar(event), True
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                keyed = kind is yaml.MappingStartEvent
                collections.append({} if keyed else [])
                tags.append(_collection_tag(event.tag, keyed))
                keys.append(_NO_KEY)
                continue
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                keys.pop()
                value, scalar = _close(collections.pop(), tags.pop()), False
            else:  # _count_events let no other event through
                raise Invalid(f"malformed YAML: unexpected {kind.__name__}")
            if not collections:
                return value
            into = collections[-1]
            if len(into) >= limits.members and (into.__class__ is list or keys[-1] not in into):
                raise limits.too_many_members()
            if into.__class__ is list:
                into.append(value)
            elif keys[-1] is _NO_KEY:
                keys[-1] = _key(value, scalar)
            else:
                into[keys[-1]] = value  # a repeated key: the last value wins, as in JavaScript
                keys[-1] = _NO_KEY

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        text, limits, loader = event.value, self.limits, self.loader
        tag = event.tag
        if tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _STR:
            if len(text) > limits.string_length:
                raise limits.too_long()
            return text
        if tag == _INT:
            return _integer(text)
        if tag not in _SCALAR_TAGS:
            raise Invalid(f"unsupported YAML tag {tag} on a scalar")
        value = loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, text, style=event.style))
        if isinstance(value, bytes) and len(value) > limits.string_length:
            raise limits.too_long()
        return _date(value) if isinstance(value, datetime.date) else value


def _collection_tag(tag: str | None, keyed: bool) -> str:
    if tag is None or tag == "!":  # no tag: the default (there are no path resolvers)
        return _MAP if keyed else _SEQ
    if tag not in ((_MAP, _SET) if keyed else (_SEQ, _OMAP, _PAIRS)):
        raise Invalid(f"unsupported YAML tag {tag} on a {'mapping' if keyed else 'sequence'}")
    return tag


def _close(collection: list[Any] | dict[Any, Any], tag: str) -> Any:
    """A collection's value, once its end event has come."""
    if isinstance(collection, dict):
        return JSSet(collection) if tag == _SET else untag(collection, hex_buffers=True)
    if tag == _SEQ:
        return collection
    # !!omap and !!pairs: mappings of one key each, read as [key, value] pairs.
    if not all(isinstance(item, dict) and len(item) == 1 for item in collection):
        raise Invalid(f"YAML {tag} holds mappings of one key each")
    return [list(next(iter(item.items()))) for item in collection]


def _key(value: Any, scalar: bool) -> Any:
    if not scalar:
        raise bad_key("an array or a map")
    if isinstance(value, int) and value not in _KEY_INTEGERS:
        raise bad_key("an integer beyond 64 bits")
    return value


def load_all(raw: bytes, limits: DecodeLimits) -> Iterator[Any]:
    """The documents of a YAML stream, within one body's ``limits``."""
    loader = _Loader(raw)
    try:
        _count_events(raw, limits)
        yield from _Builder(loader, limits).documents()
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as error:
        # ValueError: a scalar its constructor cannot read (a bad !!binary, a date
        # out of range).
        raise Invalid(f"malformed YAML: {error}") from None
    finally:
        loader.dispose()


def _text(value: Any, *, framed: bool) -> bytes:
    data = to_jsonable(value, exact_integers=True, hex_buffers=True)
    text = yaml.dump(
        data,
        Dumper=yaml.SafeDumper,
        allow_unicode=True,
        sort_keys=False,
        explicit_start=framed,
        explicit_end=framed,
    )
    return text.encode()


def dump(value: Any) -> bytes:
    return _text(value, framed=False)


def dump_item(value: Any) -> bytes:
    """One document of a stream, ended by ``...`` as the original writes them, and begun
    by ``---``, without which YAML 1.1 readers (PyYAML) take only the first document."""
    return _text(value, framed=True)
