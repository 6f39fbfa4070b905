"""How ``dataloft://`` paths are read and listings are made up (``_fspaths``): plain
functions, checked without a server."""

from __future__ import annotations

import pytest

from dataloft_client._fspaths import Location, byte_range, link_target, locate, tree
from dataloft_client.models import Entry


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("", None),
        ("alice", None),
        ("alice/birds", Location("alice/birds", "alice/birds", None, "")),
        ("alice/birds@7/a/b.csv", Location("alice/birds@7", "alice/birds", 7, "a/b.csv")),
        ("alice/birds@v1.0/a", Location("alice/birds@v1.0", "alice/birds", "v1.0", "a")),
        ("alice/a@b@2/x@y", Location("alice/a@b@2", "alice/a@b", 2, "x@y")),
    ],
)
def test_a_path_names_a_dataset_a_version_and_a_path_in_it(
    path: str, where: Location | None
) -> None:
    assert locate(path) == where


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, (0, 100)),
        (10, 20, (10, 20)),
        (-5, None, (95, 100)),
        (-500, None, (0, 100)),
        (10, -10, (10, 90)),
        (90, 500, (90, 100)),
        (150, None, (100, 100)),
        (50, 40, (50, 50)),
    ],
)
def test_byte_ranges_read_as_slices_do(
    start: int | None, end: int | None, expected: tuple[int, int]
) -> None:
    assert byte_range(start, end, 100) == expected
    assert bytes(range(100))[start:end] == bytes(range(100))[slice(*expected)]


def test_links_lead_from_their_folder_and_never_out_of_the_dataset() -> None:
    assert link_target("a/b/link", "../c/d") == "a/c/d"
    assert link_target("link", "./x") == "x"
    for escaping in ("../x", "a/../../x"):
        with pytest.raises(FileNotFoundError):
            link_target("link", escaping)


def _file(path: str) -> Entry:
    return Entry("file", path, 1, "0" * 64, "text/plain", 1, None, raw={})


def test_a_listing_makes_up_each_folder_below_it_once() -> None:
    where = Location("alice/birds@3", "alice/birds", 3, "data")
    entries = [_file(p) for p in ("data/a/x", "data/a/y", "data/b/c/z", "data/top")]
    folders = {
        name: [info["name"] for info in listing]
        for name, listing in tree(where, 3, entries).items()
    }
    base = "alice/birds@3/data"
    assert folders == {
        base: [f"{base}/a", f"{base}/b", f"{base}/top"],
        f"{base}/a": [f"{base}/a/x", f"{base}/a/y"],
        f"{base}/b": [f"{base}/b/c"],
        f"{base}/b/c": [f"{base}/b/c/z"],
    }
    assert tree(Location("alice/birds", "alice/birds", None, ""), 0, []) == {"alice/birds": []}
