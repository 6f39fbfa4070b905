"""Folder listings (``core/tree.py``) against a model of them: a folder's children are the
first segments of the paths under it, in path order, a subfolder sorting as its name and a
"/". Every page of a listing, followed by its markers, and every batch of a scan must be
what sorting the paths in Python gives, whatever names sort around '/' ('-' and '.' before
it, '0' after), at the head and at older versions, on both databases. And a page costs the
same statements and about the same work however much its subfolders hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM, Action, Principal
from dataloft.core.changes import Change, DeleteFile, DeleteFolder, MakeFolder, PutFile
from dataloft.core.loft import Loft
from dataloft.core.names import FOLDER_MARKER
from dataloft.core.tree import (
    FIRST_BATCH,
    WALKED_FILES,
    FolderPage,
    Subfolder,
    scan_folder,
)
from tests.support import FAST_HASHING, unique

Owner = tuple[Principal, str]

# Names on each side of '/' (U+002F) and of its successor '0', a space, non-ASCII names
# of two, three and four bytes in UTF-8, an empty folder (its marker hidden), and folders
# that hold only folders.
TRICKY = [
    "a/b",
    "a/c/d",
    "a/c0",
    "a-b",
    "a.b",
    "a0",
    "a b",
    "a!",
    "ab/x",
    "a~",
    "é.txt",
    "é/1",
    "éa",
    "日本/語.txt",
    "日本.txt",
    "\U0001f600/x",
    "\U0001f600.txt",
    "Z/1",
    "_",
    "~/x",
    "0",
    "00/1",
    "-/x",
    "deep/er/still/f",
]
EMPTY = "empty/folder"  # made with MakeFolder: "empty/folder/<marker>"


@pytest.fixture
def owner(loft: Loft) -> Owner:
    username, password = unique("owner"), "password-" + unique()
    loft.accounts.create_user(SYSTEM, username, password)
    return loft.auth.authenticate_password(username, password), username


def put(loft: Loft, paths: Sequence[str]) -> list[Change]:
    """Files whose content is their path (so a file's size says which it is)."""
    return [PutFile(path, blob=loft.blobs.from_bytes(path.encode())) for path in paths]


def make(loft: Loft, owner: Owner, *commits: Sequence[Change]) -> str:
    name = unique("tree")
    loft.datasets.create(owner[0], owner[1], name)
    for changes in commits:
        loft.commits.commit(owner[0], owner[1], name, changes)
    return name


def children(paths: Sequence[str], folder: str) -> list[tuple[str, str]]:
    """The model: ``folder``'s children as (kind, name), "d" or "f", in path order."""
    prefix = f"{folder}/" if folder else ""
    found: dict[str, tuple[str, str]] = {}
    for path in paths:
        if path.startswith(prefix):
            child, slash, _ = path[len(prefix) :].partition("/")
            if slash:
                found[child + "/"] = ("d", child)
            elif child != FOLDER_MARKER:
                found[child] = ("f", child)
    return [found[key] for key in sorted(found)]


def pages(
    loft: Loft, owner: Owner, name: str, folder: str, limit: int, version: int | None = None
) -> list[FolderPage]:
    listed, marker = [], None
    while True:
        _, page = loft.tree.list_folder_at(
            owner[0], owner[1], name, folder, version=version, marker=marker, limit=limit
        )
        listed.append(page)
        if page.marker is None:
            return listed
        marker = page.marker
        assert len(listed) < 10_000


def assert_pages_match(
    listed: list[FolderPage], expected: list[tuple[str, str]], limit: int
) -> None:
    """Each page holds the next ``limit`` children of the model, folders and files each
    sorted by name; only the last has no marker."""
    assert len(listed) == max(1, -(-len(expected) // limit))
    for number, page in enumerate(listed):
        chunk = expected[number * limit : (number + 1) * limit]
        assert page.folders == sorted(n for kind, n in chunk if kind == "d"), number
        assert [f.name for f in page.files] == sorted(n for kind, n in chunk if kind == "f")
        assert (page.marker is None) == (number == len(listed) - 1)


def test_the_model_puts_a_folder_where_its_slash_sorts() -> None:
    assert children(["a/b", "a-b", "a.b", "a0", "a b"], "") == [
        ("f", "a b"),
        ("f", "a-b"),
        ("f", "a.b"),
        ("d", "a"),
        ("f", "a0"),
    ]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 8, 1000])
@pytest.mark.parametrize("folder", ["", "a", "deep", "日本", "empty"])
def test_pages_hold_the_children_in_path_order(
    loft: Loft, owner: Owner, folder: str, limit: int
) -> None:
    name = make(loft, owner, [*put(loft, TRICKY), MakeFolder(EMPTY)])
    paths = [*TRICKY, f"{EMPTY}/{FOLDER_MARKER}"]
    expected = children(paths, folder)
    assert expected
    listed = pages(loft, owner, name, folder, limit)
    assert_pages_match(listed, expected, limit)
    sizes = {f.name: f.size for page in listed for f in page.files}
    prefix = f"{folder}/" if folder else ""
    assert sizes == {n: len((prefix + n).encode()) for kind, n in expected if kind == "f"}


def test_an_empty_folder_lists_as_empty_and_its_marker_stays_hidden(
    loft: Loft, owner: Owner
) -> None:
    name = make(loft, owner, [MakeFolder("only")])
    top = loft.tree.list_folder(owner[0], owner[1], name, "")
    assert (top.folders, top.files, top.marker) == (["only"], [], None)
    inside = loft.tree.list_folder(owner[0], owner[1], name, "only")
    assert (inside.folders, inside.files, inside.marker) == ([], [], None)


@pytest.mark.parametrize("most", [1, 2, 3, 7, FIRST_BATCH + 1, 1000])
def test_a_scan_reads_every_child_once_across_its_batches(
    loft: Loft, owner: Owner, most: int
) -> None:
    """``scan_folder`` as Pbench's directory listings use it: to the end, in batches of
    at most ``most``, read on files first and walked after the first subfolder."""
    files = [f"f{n:03d}" for n in range(FIRST_BATCH * 3)]  # several batches before a folder
    paths = [*files, *TRICKY]
    name = make(loft, owner, put(loft, paths))
    with loft.db.read() as session:
        dataset_id = loft.datasets.locate(owner[0], owner[1], name, Action.READ).row.id
        for folder in ("", "a"):
            prefix = f"{folder}/" if folder else ""
            scanned = [
                ("d", c.name) if isinstance(c, Subfolder) else ("f", c.name)
                for c in scan_folder(session, dataset_id, prefix, most=most)
            ]
            assert scanned == children(paths, folder)


@pytest.mark.parametrize("walked", [0, 1, 2, 5])
@pytest.mark.parametrize("most", [2, 5, 1000])
def test_a_walk_that_meets_a_run_of_files_reads_on_and_walks_again(
    loft: Loft, owner: Owner, monkeypatch: pytest.MonkeyPatch, walked: int, most: int
) -> None:
    """Runs of files between subfolders, walked ``walked`` files at most in a row (on
    every database: the shortest runs PostgreSQL walks, and SQLite's, which walks on)."""
    for database in ("sqlite", "postgresql"):
        monkeypatch.setitem(WALKED_FILES, database, walked)
    paths = [f"{group}/{n}" for group in "bdfh" for n in range(3)]
    paths += [
        f"{group}{n}" for group, run in zip("aceg", (1, 3, 7, 12), strict=True) for n in range(run)
    ]
    name = make(loft, owner, put(loft, paths))
    with loft.db.read() as session:
        dataset_id = loft.datasets.locate(owner[0], owner[1], name, Action.READ).row.id
        scanned = [
            ("d", c.name) if isinstance(c, Subfolder) else ("f", c.name)
            for c in scan_folder(session, dataset_id, "", most=most)
        ]
    assert scanned == children(paths, "")
    assert_pages_match(pages(loft, owner, name, "", most), children(paths, ""), most)


def test_a_scan_from_a_start_resumes_there(loft: Loft, owner: Owner) -> None:
    name = make(loft, owner, put(loft, TRICKY))
    expected = children(TRICKY, "")
    with loft.db.read() as session:
        dataset_id = loft.datasets.locate(owner[0], owner[1], name, Action.READ).row.id
        after_a = [c.name for c in scan_folder(session, dataset_id, "", "a0", inclusive=False)]
        assert after_a == [n for _, n in expected[expected.index(("f", "a0")) + 1 :]]
        from_a = [c.name for c in scan_folder(session, dataset_id, "", "a/", most=2)]
        assert from_a == [n for _, n in expected[expected.index(("d", "a")) :]]


def test_thousands_of_subfolders_page_with_the_marker(loft: Loft, owner: Owner) -> None:
    """2,500 subfolders of two files each, a file beside every tenth ("s0010.txt" sorts
    before "s0010/"), and files after them all: pages of 1,000 and of 333."""
    paths = [f"s{n:04d}/{leaf}" for n in range(2500) for leaf in ("a", "b")]
    paths += [f"s{n:04d}.txt" for n in range(0, 2500, 10)]
    paths += ["t1", "t2"]
    name = make(loft, owner, put(loft, paths))
    expected = children(paths, "")
    assert len(expected) == 2500 + 250 + 2
    for limit in (1000, 333):
        assert_pages_match(pages(loft, owner, name, "", limit), expected, limit)
    inside = loft.tree.list_folder(owner[0], owner[1], name, "s0042")
    assert ([f.name for f in inside.files], inside.folders) == (["a", "b"], [])


def test_older_versions_list_what_they_held(loft: Loft, owner: Owner) -> None:
    """Files deleted, folders emptied and filled again: each version's listing is its own,
    read from the rows' lifetimes (deleted rows lie in the index between live ones)."""
    one = [*TRICKY, *(f"gone/{n}" for n in range(50)), *(f"m{n:02d}/x" for n in range(40))]
    removed = ["a/b", "a.b", "é/1", "\U0001f600.txt", *(f"m{n:02d}/x" for n in range(0, 40, 2))]
    back = ["a.b", "gone/again", "new/file"]
    name = make(
        loft,
        owner,
        put(loft, one),
        [*(DeleteFile(path) for path in removed), DeleteFolder("gone")],
        put(loft, back),
    )
    two = [p for p in one if p not in removed and not p.startswith("gone/")]
    three = [*two, *back]
    for version, paths in ((1, one), (2, two), (3, three)):
        for folder in ("", "a", "gone"):
            expected = children(paths, folder)
            if not expected:  # "gone" at version 2
                continue
            for limit in (4, 1000):
                listed = pages(loft, owner, name, folder, limit, version=version)
                assert_pages_match(listed, expected, limit)


# --- what a page costs ---------------------------------------------------------------------

GRAIN = 10  # progress-handler calls per this many SQLite virtual-machine instructions


@pytest.fixture
def sqlite_loft(tmp_path: Path) -> Iterator[Loft]:
    with Loft(Settings(data_dir=tmp_path / "data", **FAST_HASHING)) as loft:
        yield loft


def _work(loft: Loft, dataset_id: int, most: int) -> tuple[list[str], int, int]:
    """The children of the top folder, the statements the scan ran and the SQLite
    instructions they took (counted on the scan's own connection)."""
    statements: list[str] = []
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0  # go on

    with loft.db.read() as session:
        raw: Any = session.connection().connection.driver_connection
        raw.set_trace_callback(statements.append)
        raw.set_progress_handler(tick, GRAIN)
        try:
            found = [c.name for c in scan_folder(session, dataset_id, "", most=most)]
        finally:
            raw.set_trace_callback(None)
            raw.set_progress_handler(None, GRAIN)
    return found, len(statements), ticks[0] * GRAIN


def test_a_page_costs_the_same_however_much_its_subfolders_hold(sqlite_loft: Loft) -> None:
    """The top folder of the web UI's benchmark, 100 subfolders and 100 files, with one
    file in each subfolder and with 100: the same statements (two: the files up to the
    first subfolder, then the walk) and about the same work. Jumping over a subfolder
    with a statement of its own took one a subfolder; reading through them, the files."""
    loft = sqlite_loft
    made = loft.accounts.create_user(SYSTEM, "tester", "a-password")
    actor = Principal(user_id=made.id, username="tester")
    owner = (actor, "tester")
    tops = [f"top{n:03d}.txt" for n in range(100)]
    ids = []
    for inside in (1, 100):
        paths = [*tops, *(f"d{n % 100:02d}/f{n:05d}" for n in range(100 * inside))]
        name = make(loft, owner, put(loft, ["README.md", *paths]))
        ids.append(loft.datasets.locate(actor, "tester", name, Action.READ).row.id)
    for dataset_id in ids:
        _work(loft, dataset_id, 201)  # once to warm caches (compiled statements, pages)
    few, many = (_work(loft, dataset_id, 201) for dataset_id in ids)
    assert few[0] == many[0] and len(few[0]) == 201
    assert few[1] == many[1] <= 3, (few[1], many[1])
    assert few[2] > 0
    assert many[2] < 1.5 * few[2], (few[2], many[2])
