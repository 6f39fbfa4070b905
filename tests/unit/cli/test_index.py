"""The local index: rows by tree and path, git's racily-clean rule, the ``.part`` files a
pull fills, and a file of another layout started afresh."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dataloft.cli.index import (
    COARSE_MARGIN_NS,
    FINE_MARGIN_NS,
    Hashed,
    Index,
    Known,
    cache_dir,
    margin_for,
)

SECOND = 1_000_000_000


def test_a_row_answers_while_size_and_mtime_hold_and_the_mtime_is_old_enough() -> None:
    mtime = 1_700_000_000 * SECOND + 123_456_789
    row = Known(10, mtime, "ab" * 32, checked_ns=mtime + 5 * SECOND, margin_ns=FINE_MARGIN_NS)
    assert row.answers_for(10, mtime)
    assert not row.answers_for(11, mtime)
    assert not row.answers_for(10, mtime + 1)
    # Read within a clock tick of its last change: it may change again with the same
    # mtime, so the row does not answer for it (the file is hashed again next time).
    racy = Known(10, mtime, "ab" * 32, checked_ns=mtime + FINE_MARGIN_NS, margin_ns=FINE_MARGIN_NS)
    assert not racy.answers_for(10, mtime)


def test_whole_second_mtimes_need_the_wider_margin() -> None:
    assert margin_for(1_700_000_000 * SECOND) == COARSE_MARGIN_NS
    assert margin_for(1_700_000_000 * SECOND + 4_000_000) == FINE_MARGIN_NS
    whole = 1_700_000_000 * SECOND
    row = Known(1, whole, "cd" * 32, checked_ns=whole + SECOND, margin_ns=margin_for(whole))
    assert not row.answers_for(1, whole)


def test_rows_are_kept_per_tree(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    with Index(one, tmp_path / "cache") as index:
        index.record([Hashed("a/b.txt", 3, 10, "ef" * 32, 20, FINE_MARGIN_NS)])
        index.record([Hashed("c.txt", 4, 11, "01" * 32, 21, FINE_MARGIN_NS)])
    with Index(two, tmp_path / "cache") as other:
        assert other.known() == {}
    with Index(one, tmp_path / "cache") as index:
        assert index.known() == {
            "a/b.txt": Known(3, 10, "ef" * 32, 20, FINE_MARGIN_NS),
            "c.txt": Known(4, 11, "01" * 32, 21, FINE_MARGIN_NS),
        }
        index.record([Hashed("c.txt", 5, 12, "02" * 32, 22, FINE_MARGIN_NS)], gone=["a/b.txt"])
        assert index.known() == {"c.txt": Known(5, 12, "02" * 32, 22, FINE_MARGIN_NS)}


def test_partials_are_remembered_until_ended(tmp_path: Path) -> None:
    with Index(tmp_path / "t", tmp_path / "cache") as index:
        index.start_partials(["a.bin", "b/c.bin"])
    with Index(tmp_path / "t", tmp_path / "cache") as index:
        assert index.partials() == {"a.bin", "b/c.bin"}
        index.end_partials(["a.bin", "never-started"])
        assert index.partials() == {"b/c.bin"}


def test_an_index_of_another_layout_starts_afresh(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    old = sqlite3.connect(cache / "index.sqlite3")
    old.execute("CREATE TABLE files (root TEXT, path TEXT, sha256 TEXT)")
    old.execute("INSERT INTO files VALUES ('/t', 'a', 'x')")
    old.commit()
    old.close()
    with Index(tmp_path / "t", cache) as index:
        assert index.known() == {}
        index.record([Hashed("a", 1, 1, "aa" * 32, 9, FINE_MARGIN_NS)])
        assert set(index.known()) == {"a"}


def test_the_cache_directory_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "dataloft"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "dataloft"
