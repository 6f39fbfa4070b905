"""Pigeon Optics data paths (``core/data_paths.py``): parsed from what lens inputs say,
written back in the canonical form (encodeURIComponent, no trailing slash)."""

from __future__ import annotations

import pytest

from dataloft.core.data_paths import DataPath, parse_data_path
from dataloft.core.errors import Invalid
from dataloft.core.lens_builds import input_order


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("/datasets/alice:signs", DataPath("datasets", "alice", "signs"), None),
        ("/datasets/alice:signs/", DataPath("datasets", "alice", "signs"), "/datasets/alice:signs"),
        ("/lenses/bob:tags", DataPath("lenses", "bob", "tags"), None),
        (
            "/datasets/alice:signs/records/a%2Fb%20c",
            DataPath("datasets", "alice", "signs", "a/b c"),
            None,
        ),
        (
            " /datasets/al%20ice:s%C3%A9/records/x ",
            DataPath("datasets", "al ice", "sé", "x"),
            "/datasets/al%20ice:s%C3%A9/records/x",
        ),
    ],
)
def test_parse_and_write_back(text: str, expected: DataPath, canonical: str | None) -> None:
    parsed = parse_data_path(text)
    assert parsed == expected
    assert str(parsed) == (canonical or text)
    assert parse_data_path(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "signs",
        "/datasets/alice",
        "/datasets/:signs",
        "/datasets/alice:",
        "/meta/alice:signs",
        "/datasets/alice:signs/items/x",
        "/datasets/alice:signs/records/",
        "/datasets/alice:signs/records/x/y",
        "datasets/alice:signs",
    ],
)
def test_what_is_not_a_data_path(text: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_data_path(text)
    assert repr(text) in raised.value.message


def test_a_reduce_folds_by_input_then_record() -> None:
    order = input_order(["/datasets/b:z", "/datasets/a:a/records/k", "/datasets/a:a"])
    sources = [
        "/datasets/a:a/records/b",
        "/datasets/b:z/records/y",
        "/datasets/a:a/records/k",
        "/datasets/b:z/records/x",
        "/datasets/c:c/records/q",
    ]
    assert sorted(sources, key=order) == [
        "/datasets/b:z/records/x",
        "/datasets/b:z/records/y",
        "/datasets/a:a/records/k",
        "/datasets/a:a/records/b",
        "/datasets/c:c/records/q",
    ]
