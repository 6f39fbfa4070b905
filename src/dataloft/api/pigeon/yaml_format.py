"""Record values as YAML, the way Pigeon Optics writes them: the JSON ``{type, data}`` tags
for what plain YAML lacks, with a Buffer's data as a hex string; a stream is documents,
each between ``---`` and ``...``.

Reading follows YAML 1.2's core schema, as JavaScript's YAML libraries do: ``yes``, ``on``
and ``2021-07-02`` stay strings (PyYAML's default, YAML 1.1, would turn them into booleans
and dates), and ``012`` is twelve. Aliases are refused: a few bytes of them can stand for
a value too large to store (the "billion laughs").
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any

import yaml

from dataloft.core.errors import Invalid
from dataloft.core.values import (
    MAX_DEPTH,
    JSDate,
    JSSet,
    check_depth,
    to_jsonable,
    untag,
)


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise Invalid("YAML aliases (*name) are not accepted")
        return super().compose_node(parent, index)


def _int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
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
_Loader.add_constructor("tag:yaml.org,2002:int", _int)


def _restore(value: Any, depth: int = 0) -> Any:
    """YAML's values as record values: tags undone, ``!!timestamp`` as a Date, ``!!set``
    as a Set, ``!!omap``/``!!pairs`` tuples as lists."""
    if depth > MAX_DEPTH:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
    deeper = depth + 1
    if isinstance(value, list | tuple):
        return [_restore(item, deeper) for item in value]
    if isinstance(value, dict):
        restored = {_restore(k, deeper): _restore(v, deeper) for k, v in value.items()}
        return untag(restored, hex_buffers=True)
    if isinstance(value, set):
        return JSSet(_restore(item, deeper) for item in value)
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return JSDate(round(moment.timestamp() * 1000, 3))
    if isinstance(value, datetime.date):
        return JSDate(
            datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC).timestamp()
            * 1000
        )
    return value


def _documents(raw: bytes) -> Iterator[Any]:
    try:
        # _Loader is a SafeLoader: it builds plain data only, never Python objects.
        for document in yaml.load_all(raw, Loader=_Loader):
            value = _restore(document)
            check_depth(value)
            yield value
    except RecursionError:
        raise Invalid(f"YAML nested deeper than {MAX_DEPTH} levels") from None
    except (yaml.YAMLError, UnicodeDecodeError, TypeError, ValueError) as error:
        # TypeError: a mapping key YAML allows but Python cannot hash (a list, a map).
        raise Invalid(f"malformed YAML: {error}") from None


def load_all(raw: bytes) -> Iterator[Any]:
    """The documents of a YAML stream."""
    return _documents(raw)


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
