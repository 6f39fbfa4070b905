"""A lens's built-in reduce: the values output for one id, merged into its record.

Pigeon Optics replaced the user's reduce with a fixed merge (2021-05-16), folded left to
right over an id's values, and this is that merge over dataloft's value types
(``core/values.py``):

- values of different types: the last wins;
- list: concatenation (one level);
- number (int or float, never bool): the sum;
- JSSet: the union, in first-seen order (JavaScript's Set membership, SameValueZero);
- dict: key by key, merging with these same rules the keys both sides have;
- JSMap: the same, by key (keys as a JavaScript Map compares them);
- JSDate: the latest;
- str, bytes, bool, None, undefined and anything else: the last wins.

"Type" is the JavaScript type a value stands for: an int and a float are both numbers
(and sum), a JSURL is a string, a dict with other keys than strings is a Map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dataloft.core.values import JSDate, JSMap, JSSet, same_value_key


def merge(values: Sequence[Any]) -> Any:
    """The values folded left to right; at least one is needed."""
    if not values:
        raise ValueError("nothing to merge")
    merged = values[0]
    for value in values[1:]:
        merged = merge_two(merged, value)
    return merged


def merge_two(left: Any, right: Any) -> Any:
    """``right`` merged into ``left``; neither is changed (a new value when they combine)."""
    if _is_number(left) and _is_number(right):
        return left + right
    if isinstance(left, list) and isinstance(right, list):
        return [*left, *right]
    if isinstance(left, JSSet) and isinstance(right, JSSet):
        return JSSet([*left.items, *right.items])
    if _is_object(left) and _is_object(right):
        merged = dict(left)
        for key, value in right.items():
            merged[key] = merge_two(merged[key], value) if key in merged else value
        return merged
    if _is_map(left) and _is_map(right):
        return _merge_maps(_pairs(left), _pairs(right))
    if isinstance(left, JSDate) and isinstance(right, JSDate):
        return right if right.ms >= left.ms else left
    return right


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_object(value: Any) -> bool:
    """A plain JavaScript object: a dict whose keys are all strings."""
    return isinstance(value, dict) and all(type(key) is str for key in value)


def _is_map(value: Any) -> bool:
    """A JavaScript Map: a JSMap, or a dict with other keys than strings (which is written
    as a Map)."""
    return isinstance(value, JSMap) or (isinstance(value, dict) and not _is_object(value))


def _pairs(value: JSMap | dict[Any, Any]) -> list[tuple[Any, Any]]:
    return value.pairs if isinstance(value, JSMap) else list(value.items())


def _merge_maps(left: list[tuple[Any, Any]], right: list[tuple[Any, Any]]) -> JSMap:
    """Key-wise, as for objects. A Map's keys compare as JavaScript compares them: a
    primitive by type and value (``same_value_key``), anything else (a list, a dict, a
    Buffer) by identity, so that two equal lists are two keys, as two arrays are."""
    pairs = list(left)
    where: dict[Any, int] = {}
    for index, (key, _) in enumerate(pairs):
        where.setdefault(_identity(key), index)
    for key, value in right:
        identity = _identity(key)
        if identity in where:
            index = where[identity]
            pairs[index] = (pairs[index][0], merge_two(pairs[index][1], value))
        else:
            where[identity] = len(pairs)
            pairs.append((key, value))
    return JSMap(pairs)


def _identity(key: Any) -> Any:
    same_value = same_value_key(key)
    return same_value if same_value is not None else ("object", id(key))
