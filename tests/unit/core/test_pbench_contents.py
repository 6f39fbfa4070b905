"""``PbenchContents``: what listing a directory, or finding a file, costs does not grow
with what the rest of the dataset holds.

Measured as SQLite counts the work (virtual-machine instructions, through its progress
handler) and as statements, not as time: the same directory of a 10-member and of a
10,000-member dataset must cost the same within a margin, on a machine shared with
anything. A scan that read past a subdirectory's first row, a symlink resolved by
loading every link, or a lookup that scanned the dataset would each cost hundreds of
times more in the larger one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from dataloft.config import Settings
from dataloft.core.access import SYSTEM, Principal
from dataloft.core.loft import Loft
from dataloft.core.pbench_contents import DirectoryListing, Item, MemberDirectory, MemberFile
from dataloft.core.pbench_intake import Indexed
from tests.support import FAST_HASHING

# Progress-handler calls per this many instructions: fine enough to see one row's work.
GRAIN = 10
SMALL_BULK, LARGE_BULK = 1, 9_995  # the folder nobody lists: 10 and 10,004 members in all


@dataclass
class Work:
    instructions: int = 0
    statements: int = 0


@pytest.fixture
def loft(tmp_path: Path) -> Iterator[Loft]:
    with Loft(Settings(data_dir=tmp_path / "data", **FAST_HASHING)) as loft:
        yield loft


Meter = Callable[[Callable[[str], Any], str], Work]


@pytest.fixture
def meter(loft: Loft) -> Meter:
    """Runs a call on a dataset and counts the SQLite work its statements did."""
    work = Work()

    def tick() -> int:
        work.instructions += GRAIN
        return 0  # go on

    @event.listens_for(loft.db.engine, "before_cursor_execute")
    def _count(conn: Any, *_: Any) -> None:
        conn.connection.driver_connection.set_progress_handler(tick, GRAIN)
        work.statements += 1

    def measure(call: Callable[[str], Any], dataset: str) -> Work:
        call(dataset)  # once to warm caches (compiled statements, the schema, pages)
        work.instructions = work.statements = 0
        call(dataset)
        return Work(work.instructions, work.statements)

    return measure


def _owner(loft: Loft) -> Principal:
    made = loft.accounts.create_user(SYSTEM, "tester", "a-password")
    return Principal(user_id=made.id, username="tester")


def _dataset(loft: Loft, actor: Principal, bulk: int) -> str:
    """The same top directory and ``sub`` in each, and ``bulk`` files in ``bulk/``."""
    blob = loft.blobs.from_bytes(b"content")
    meta = {"mode": "0o644", "mtime": 0}
    paths = ["metadata.log", "notes.txt", *(f"sub/{c}.txt" for c in "abcde")]
    paths += [f"bulk/{i:05d}.txt" for i in range(bulk)]
    indexed = Indexed(
        files=[(path, blob, meta) for path in paths],
        links=[("latest", "sub", meta), ("sub/up", "../notes.txt", meta)],
    )
    resource_id = uuid.uuid4().hex
    loft.pbench.create(
        actor,
        name=f"run-{bulk}",
        resource_id=resource_id,
        tarball=loft.blobs.from_bytes(f"tarball {bulk}".encode()),
        indexed=indexed,
        access="private",
        server={},
        global_={},
        user={},
        archive_only=False,
    )
    return resource_id


def test_what_a_directory_costs_does_not_grow_with_the_dataset(loft: Loft, meter: Meter) -> None:
    actor = _owner(loft)
    small, large = _dataset(loft, actor, SMALL_BULK), _dataset(loft, actor, LARGE_BULK)
    contents = loft.pbench_contents

    top = contents.listing(actor, large, "")
    assert isinstance(top, DirectoryListing)
    assert [(d.name, d.type, d.link) for d in top.directories] == [
        ("bulk", "DIRECTORY", None),
        ("latest", "SYMLINK", "sub"),
        ("sub", "DIRECTORY", None),
    ]
    assert [f.name for f in top.files] == ["metadata.log", "notes.txt"]
    link = contents.listing(actor, large, "latest/up")
    assert isinstance(link, Item) and (link.link, link.link_type) == ("notes.txt", "FILE")
    assert isinstance(contents.open_file(actor, large, "latest/a.txt"), MemberFile)
    assert isinstance(contents.open_file(actor, large, "latest"), MemberDirectory)

    calls: list[Callable[[str], Any]] = [
        lambda dataset: contents.listing(actor, dataset, ""),
        lambda dataset: contents.listing(actor, dataset, "sub"),
        lambda dataset: contents.listing(actor, dataset, "latest/up"),
        lambda dataset: contents.open_file(actor, dataset, "latest/a.txt"),
        lambda dataset: contents.open_file(actor, dataset, "bulk/00000.txt"),
    ]
    for number, call in enumerate(calls):
        few, many = meter(call, small), meter(call, large)
        assert many.statements == few.statements, number
        assert few.instructions > 0
        assert many.instructions < 1.5 * few.instructions, (number, few, many)
