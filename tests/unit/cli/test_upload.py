"""How a push's files are grouped into upload requests."""

from __future__ import annotations

from dataloft.cli.tree import LocalFile
from dataloft.cli.upload import BATCH_BELOW, BATCH_BYTES, BATCH_FILES, _named, requests


def files(*sizes: int) -> list[LocalFile]:
    return [LocalFile(f"f{n}", size, 0, sha256=f"{n:064x}") for n, size in enumerate(sizes)]


def test_large_files_go_alone_and_small_ones_together() -> None:
    given = files(BATCH_BELOW, 10, BATCH_BELOW - 1, 5 * BATCH_BELOW, 0)
    assert [[f.path for f in group] for group in requests(given)] == [
        ["f0"],
        ["f3"],
        ["f1", "f2", "f4"],
    ]


def test_a_batch_holds_at_most_so_many_files_and_bytes() -> None:
    many = requests(files(*[1] * (BATCH_FILES * 2 + 1)))
    assert [len(group) for group in many] == [BATCH_FILES, BATCH_FILES, 1]
    size = BATCH_BELOW - 1
    per_batch = BATCH_BYTES // size
    heavy = requests(files(*[size] * (per_batch + 1)))
    assert [len(group) for group in heavy] == [per_batch, 1]
    assert requests([]) == []


def test_an_error_names_the_file_it_is_about() -> None:
    group = files(1, 2)
    digest = group[1].sha256 or ""
    assert _named(f"member {digest} hashes to x", group) == f"f1: member {digest} hashes to x"
    assert _named("too large", group[:1]) == "f0: too large"
    assert _named("too large", group) == "uploading 2 files: too large"
