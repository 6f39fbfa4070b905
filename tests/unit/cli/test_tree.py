"""Walking a local tree (files, symlinks that stay inside, what is skipped or refused)
and hashing it in parallel threads."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from dataloft.cli.tree import CHUNK, LocalFile, TreeError, hash_files, walk


class Counted:
    """A progress meter that only counts (what the display would show)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        with self._lock:
            self.bytes += count

    def file_done(self) -> None:
        with self._lock:
            self.files += 1

    def grow(self, count_bytes: int, count_files: int) -> None:
        raise AssertionError("hashing knows its totals from the start")


def make(root: Path, files: dict[str, bytes]) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def test_walk_lists_files_and_symlinks_in_path_order(tmp_path: Path) -> None:
    root = make(tmp_path / "t", {"b/c/d.txt": b"d", "a.txt": b"aa", "b/e.txt": b"e"})
    (root / "empty").mkdir()
    (root / "b/link").symlink_to("c/d.txt")
    (root / "up").symlink_to("b/c/../e.txt")
    (root / "abs").symlink_to(root / "b" / "c")
    tree = walk(root)
    assert [(f.path, f.size, f.target) for f in tree.files] == [
        ("a.txt", 2, None),
        ("abs", len("b/c"), "b/c"),
        ("b/c/d.txt", 1, None),
        ("b/e.txt", 1, None),
        ("b/link", len("c/d.txt"), "c/d.txt"),
        ("up", len("b/c/../e.txt"), "b/c/../e.txt"),
    ]
    assert tree.skipped == []


def test_walk_leaves_out_what_it_is_told_to(tmp_path: Path) -> None:
    root = make(tmp_path / "t", {"keep.txt": b"k", "x.bin.part": b"p", "state/index": b"i"})
    tree = walk(root, skip={"x.bin.part", "state"})
    assert [f.path for f in tree.files] == ["keep.txt"]


def test_pipes_are_skipped_and_listed(tmp_path: Path) -> None:
    root = make(tmp_path / "t", {"a.txt": b"a"})
    os.mkfifo(root / "pipe")
    tree = walk(root)
    assert [f.path for f in tree.files] == ["a.txt"]
    assert tree.skipped == ["pipe"]


@pytest.mark.parametrize("target", ["../outside", "a/../../outside", "/etc/passwd"])
def test_a_symlink_leading_outside_is_refused(tmp_path: Path, target: str) -> None:
    root = make(tmp_path / "t", {"a/b.txt": b"b"})
    (root / "link").symlink_to(target)
    with pytest.raises(TreeError, match="leads outside"):
        walk(root)


def test_a_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / os.fsdecode(b"bad\xff.txt")).write_bytes(b"x")
    with pytest.raises(TreeError, match="not UTF-8"):
        walk(root)


def test_hash_files_gives_each_digest_and_counts_progress(tmp_path: Path) -> None:
    files = {f"f{n}": os.urandom(n * 1000) for n in range(40)}
    files["big"] = os.urandom(3 * CHUNK + 17)  # read in chunks
    root = make(tmp_path / "t", files)
    meter = Counted()
    hashed = {h.path: h for h in hash_files(root, [LocalFile(p, 0, 0) for p in files], meter)}
    assert {path: h.sha256 for path, h in hashed.items()} == {
        path: hashlib.sha256(data).hexdigest() for path, data in files.items()
    }
    assert {path: h.size for path, h in hashed.items()} == {p: len(d) for p, d in files.items()}
    assert hashed["big"].mtime_ns == (root / "big").stat().st_mtime_ns
    assert (meter.bytes, meter.files) == (sum(map(len, files.values())), len(files))


def test_hashing_does_not_follow_a_file_replaced_by_a_symlink(tmp_path: Path) -> None:
    root = make(tmp_path / "t", {"secret": b"s", "x": b"x"})
    (root / "x").unlink()
    (root / "x").symlink_to("secret")  # since the walk saw a file there
    with pytest.raises(OSError):
        list(hash_files(root, [LocalFile("x", 1, 0)], Counted()))
