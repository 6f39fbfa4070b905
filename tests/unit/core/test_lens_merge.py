"""The built-in reduce of lenses: Pigeon Optics' merge over dataloft's value types."""

from __future__ import annotations

import math
from typing import Any

import pytest

from dataloft.core.lens_merge import merge
from dataloft.core.values import JSURL, UNDEFINED, JSDate, JSMap, JSSet


def test_the_tag_index_example() -> None:
    # docs: outputs {cat: Set{abc}}, {dog: Set{abc}}, ... merged per id.
    assert merge([JSSet(["abc"]), JSSet(["ghi"])]) == JSSet(["abc", "ghi"])
    assert merge([JSSet(["abc"]), JSSet(["def"]), JSSet(["ghi"])]) == JSSet(["abc", "def", "ghi"])


def test_one_value_is_itself() -> None:
    value = {"a": [1]}
    assert merge([value]) is value


def test_nothing_to_merge() -> None:
    with pytest.raises(ValueError, match="nothing"):
        merge([])


@pytest.mark.parametrize(
    ("values", "merged"),
    [
        ([1, 2, 3], 6),
        ([1, 2.5], 3.5),
        ([2**60, 2**60], 2**61),
        ([[1, 2], [3], []], [1, 2, 3]),
        ([[[1]], [[2]]], [[1], [2]]),  # one level only
        (["a", "b"], "b"),
        ([b"\x01", b"\x02"], b"\x02"),
        ([True, False], False),
        ([None, None], None),
        ([UNDEFINED, 1], 1),
        ([1, UNDEFINED], UNDEFINED),
        ([JSURL("http://a"), JSURL("http://b")], JSURL("http://b")),
        ([JSDate(5), JSDate(3)], JSDate(5)),
        ([JSDate(3), JSDate(5)], JSDate(5)),
        ([JSDate(1.5), JSDate(1)], JSDate(1.5)),
    ],
)
def test_same_types(values: list[Any], merged: Any) -> None:
    assert merge(values) == merged


@pytest.mark.parametrize(
    "values",
    [
        [1, "1"],
        ["1", 1],
        [True, 1],  # a bool is no number
        [1, True],
        [[1], JSSet([2])],
        [{"a": 1}, JSMap([("a", 2)])],
        [JSMap([("a", 2)]), {"a": 1}],
        [JSDate(1), 5],
        [b"a", "a"],
        [{"a": 1}, [1]],
    ],
)
def test_different_types_last_wins(values: list[Any]) -> None:
    assert merge(values) == values[-1]


def test_sum_of_floats_keeps_nan() -> None:
    assert math.isnan(merge([1.0, math.nan]))


def test_sets_union_with_javascript_membership() -> None:
    merged = merge([JSSet([1, "1", math.nan]), JSSet([1.0, True, math.nan, [1]]), JSSet([[1]])])
    assert isinstance(merged, JSSet)
    # 1 and 1.0 are one number, NaN is NaN, true is not 1, and two arrays are two objects.
    assert merged.items[:4] == [1, "1", merged.items[2], True]
    assert math.isnan(merged.items[2])
    assert merged.items[4:] == [[1], [1]]


def test_objects_merge_key_by_key() -> None:
    left = {"n": 1, "tags": ["a"], "only_left": "x", "inner": {"count": 1, "s": JSSet([1])}}
    right = {"n": 2, "tags": ["b"], "only_right": "y", "inner": {"count": 2, "s": JSSet([2])}}
    assert merge([left, right]) == {
        "n": 3,
        "tags": ["a", "b"],
        "only_left": "x",
        "inner": {"count": 3, "s": JSSet([1, 2])},
        "only_right": "y",
    }
    assert left["n"] == 1 and left["tags"] == ["a"]  # the inputs are left alone


def test_maps_merge_by_key() -> None:
    # Buffers and Dates are objects to JavaScript: keys by identity, like arrays.
    left = JSMap([(1, 10), ("1", ["a"]), (bytes([1, 2]), 1)])
    right = JSMap([(1.0, 5), ("1", ["b"]), (bytes([1, 2]), 2), (JSDate(0), "new")])
    merged = merge([left, right])
    assert merged == JSMap(
        [(1, 15), ("1", ["a", "b"]), (b"\x01\x02", 1), (b"\x01\x02", 2), (JSDate(0), "new")]
    )


def test_maps_with_unhashable_keys() -> None:
    key = [1, 2]
    left = JSMap([(key, 1), ({"a": 1}, "x")])
    right = JSMap([(key, 2), ([1, 2], 3)])
    # The same key object merges; an equal but distinct array is another key, as in JS.
    assert merge([left, right]) == JSMap([(key, 3), ({"a": 1}, "x"), ([1, 2], 3)])


def test_dicts_with_other_keys_are_maps() -> None:
    assert merge([{1: 1}, {1: 2, 2: 2}]) == JSMap([(1, 3), (2, 2)])
    assert merge([{1: 1}, JSMap([(1, 2)])]) == JSMap([(1, 3)])


def test_left_to_right() -> None:
    assert merge([[1], "x", [2]]) == [2]
    assert merge([{"a": 1}, {"a": "s"}, {"a": 2}]) == {"a": 2}
