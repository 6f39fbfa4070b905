"""``dataloft pull``: a version (by number, tag or head) into an empty folder or a half
filled one; files already right are left alone, wrong ones replaced, partial ones resumed,
every byte checked, symlinks made as symlinks, nothing written outside the folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Cli, sha, write_tree
from tests.conftest import User

BIG = os.urandom(600_000)
V1: dict[str, bytes | str] = {
    "notes.txt": b"first notes\n",
    "data/big.bin": BIG,
    "data/small.csv": b"a,b\n1,2\n",
    "deep/x/y/z.txt": b"zzz",
    "data/latest": "big.bin",  # a symlink
}
V2: dict[str, bytes | str] = {"notes.txt": b"second notes, longer\n", "extra.txt": b"extra"}


def tree_of(root: Path) -> dict[str, bytes | str]:
    """Every file (its bytes) and symlink (its target) under ``root``."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[name] = str(path.readlink())
        elif path.is_file():
            found[name] = path.read_bytes()
    return found


def test_pull_a_version_into_an_empty_folder(
    cli: Cli, alice: User, repo: str, commit: Callable[..., int], tmp_path: Path
) -> None:
    assert commit(repo, V1) == 1
    assert commit(repo, V2) == 2
    alice.client.put(f"/datasets/{repo}/tags/first", json={"version": 1})

    for ref in (f"{repo}@1", f"{repo}@first"):
        target = tmp_path / ref.replace("/", "_")
        pulled = cli.json("pull", ref, str(target))
        assert pulled["version"] == 1
        assert (pulled["downloaded"], pulled["symlinks"], pulled["unchanged"]) == (4, 1, 0)
        assert pulled["received_bytes"] == sum(len(v) for v in V1.values() if isinstance(v, bytes))
        assert tree_of(target) == V1
        assert (target / "data/latest").is_symlink()

    head = tmp_path / "head"
    pulled = cli.json("pull", repo, str(head))
    assert pulled["version"] == 2
    assert tree_of(head) == {**V1, **V2}


def test_pull_into_a_half_filled_folder(
    cli: Cli, alice: User, repo: str, commit: Callable[..., int], tmp_path: Path
) -> None:
    commit(repo, V1)
    commit(repo, V2)
    alice.client.put(f"/datasets/{repo}/tags/first", json={"version": 1})
    target = write_tree(
        tmp_path / "half",
        {
            "data/small.csv": b"a,b\n1,2\n",  # right
            "notes.txt": b"FIRST NOTES\n",  # wrong, of the same size
            "data/big.bin.part": BIG[:250_000],  # a download that stopped
            "mine.txt": b"not in the dataset",  # left alone
        },
    )
    right = target / "data/small.csv"
    os.utime(right, ns=(1_000_000_000, 1_000_000_000))  # a time no download would give
    before = right.stat().st_mtime_ns

    pulled = cli.json("pull", f"{repo}@first", str(target))
    assert pulled["unchanged"] == 1 and pulled["hashed"] == 2  # the two of the right size
    assert (pulled["downloaded"], pulled["resumed"]) == (3, 1)  # notes, big, z.txt
    assert pulled["received_bytes"] == len(b"first notes\n") + (600_000 - 250_000) + 3
    assert right.stat().st_mtime_ns == before  # untouched
    assert tree_of(target) == {**V1, "mine.txt": b"not in the dataset"}
    assert not (target / "data/big.bin.part").exists()
    for path, content in V1.items():
        if isinstance(content, bytes):
            assert sha((target / path).read_bytes()) == sha(content)

    # Everything is there now: nothing is hashed (the index), nothing downloaded.
    again = cli.json("pull", f"{repo}@first", str(target))
    assert (again["downloaded"], again["hashed"], again["received_bytes"]) == (0, 0, 0)
    assert again["unchanged"] == 4


def test_a_part_with_wrong_bytes_is_downloaded_again(
    cli: Cli, repo: str, commit: Callable[..., int], tmp_path: Path
) -> None:
    commit(repo, {"big.bin": BIG})
    target = write_tree(tmp_path / "t", {"big.bin.part": b"x" * 1000})
    pulled = cli.json("pull", repo, str(target))
    assert pulled["downloaded"] == 1
    assert (target / "big.bin").read_bytes() == BIG
    assert not (target / "big.bin.part").exists()


def test_pull_refuses_to_write_through_a_local_symlink(
    cli: Cli, repo: str, commit: Callable[..., int], tmp_path: Path
) -> None:
    commit(repo, {"data/file.txt": b"payload"})
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "t"
    target.mkdir()
    (target / "data").symlink_to(outside)
    cli.fails("pull", repo, str(target), message="'data' is a symlink here")
    assert list(outside.iterdir()) == []


def test_pull_notes_records_and_errors(
    cli: Cli, alice: User, repo: str, commit: Callable[..., int], tmp_path: Path
) -> None:
    commit(repo, {"a.txt": b"a"})
    put = alice.client.put(f"/datasets/{repo}/records/r1", json={"x": 1})
    assert put.status_code == 201, put.text
    ran = cli.run("pull", repo, str(tmp_path / "t"))
    assert "1 records not pulled" in ran.stderr
    assert ran.stdout.startswith(f"pulled {repo}@2 into ")
    cli.fails("pull", f"{repo}@9", str(tmp_path / "u"), message="has no version 9")
    cli.fails("pull", f"{repo}@nosuchtag", str(tmp_path / "u"), message="has no tag 'nosuchtag'")
    cli.fails("pull", "not-a-ref", str(tmp_path / "u"), message="owner/name", status=2)
