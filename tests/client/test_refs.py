"""parse_ref: ``owner/name[@version][/path]`` as the CLI and fsspec take it."""

from __future__ import annotations

import pytest

from dataloft_client import Ref, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice/birds", Ref("alice", "birds", None, "")),
        ("alice/birds@7", Ref("alice", "birds", 7, "")),
        ("alice/birds@v1.0/img/robin.jpg", Ref("alice", "birds", "v1.0", "img/robin.jpg")),
        ("alice/birds/img/robin.jpg", Ref("alice", "birds", None, "img/robin.jpg")),
        ("alice/birds@007", Ref("alice", "birds", 7, "")),
        ("alice/birds@2024-01", Ref("alice", "birds", "2024-01", "")),
        ("alice/a@b@3/x", Ref("alice", "a@b", 3, "x")),
        ("alice/birds@v1/dir/", Ref("alice", "birds", "v1", "dir/")),
        ("alice/birds@٣", Ref("alice", "birds", "٣", "")),  # digits of another script: a tag
    ],
)
def test_refs_are_parsed(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize("text", ["alice", "alice/", "/birds", "alice/@3", "alice/birds@"])
def test_malformed_refs_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"'"):
        parse_ref(text)


def test_a_ref_names_its_dataset() -> None:
    assert parse_ref("alice/birds@3/x").repo == "alice/birds"
