"""``dataloft push``: one commit per push with exactly the changes of the tree, nothing
hashed or sent twice, symlinks as symlinks, and a clear refusal of what cannot be pushed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from dataloft.cli.plan import plan_push
from dataloft.cli.push import _commit
from dataloft.cli.tree import LocalFile
from dataloft.cli.upload import BATCH_BELOW, BATCH_BYTES
from dataloft_client import Client
from tests.cli.conftest import Cli, diff, head_files, sha, versions, write_tree
from tests.conftest import User
from tests.support import LiveServer

TREE = {
    "readme.txt": b"hello birds\n",
    "data/2026/jan.csv": b"day,count\n1,4\n",
    "data/2026/feb.csv": b"day,count\n1,7\n",
    "data/summary.json": b'{"total": 11}',
    "deep/a/b/c/d/e/leaf.bin": bytes(range(256)) * 40,
}


def test_push_makes_one_commit_with_exactly_the_changes(
    cli: Cli, alice: User, repo: str, tmp_path: Path
) -> None:
    root = write_tree(tmp_path / "tree", TREE)

    first = cli.json("push", str(root), repo, "-m", "first")
    assert first["committed"] is True and first["created"] is True
    assert (first["version"], first["added"], first["uploaded"]) == (1, len(TREE), len(TREE))
    assert first["hashed"] == len(TREE)
    assert [v["number"] for v in versions(alice, repo)] == [1, 0]
    assert versions(alice, repo)[0]["message"] == "first"
    assert diff(alice, repo, 0, 1) == {("added", path) for path in TREE}
    held = head_files(alice, repo)
    assert {path: entry["sha256"] for path, entry in held.items()} == {
        path: sha(data) for path, data in TREE.items()
    }

    # One file edited, one added: a commit of exactly those two.
    (root / "data/summary.json").write_bytes(b'{"total": 12}')
    (root / "data/2026/mar.csv").write_bytes(b"day,count\n1,1\n")
    second = cli.json("push", str(root), repo)
    assert (second["version"], second["added"], second["changed"], second["removed"]) == (
        2,
        1,
        1,
        0,
    )
    assert second["uploaded"] == 2
    assert diff(alice, repo, 1, 2) == {
        ("changed", "data/summary.json"),
        ("added", "data/2026/mar.csv"),
    }

    # A file deleted locally stays in the dataset, unless the push says --delete.
    (root / "readme.txt").unlink()
    kept = cli.json("push", str(root), repo)
    assert kept["committed"] is False and kept["version"] == 2
    removed = cli.json("push", str(root), repo, "--delete")
    assert (removed["version"], removed["removed"], removed["uploaded"]) == (3, 1, 0)
    assert diff(alice, repo, 2, 3) == {("removed", "readme.txt")}

    # Nothing changed: no commit, nothing hashed (the index answers), nothing sent.
    again = cli.run("push", str(root), repo)
    assert again.stdout.strip() == f"{repo} is up to date (version 3)"
    quiet = cli.json("push", str(root), repo, "--delete")
    assert quiet["committed"] is False
    assert (quiet["hashed"], quiet["uploaded"], quiet["files"]) == (0, 0, len(TREE))
    assert [v["number"] for v in versions(alice, repo)] == [3, 2, 1, 0]


def test_an_interrupted_push_sends_nothing_twice(
    cli: Cli, alice: User, repo: str, tmp_path: Path
) -> None:
    # Files of 1 MiB and more go one to a request, smaller ones many to a request (here
    # two batches: a full one and the rest).
    large = {f"large/{n}.bin": os.urandom(BATCH_BELOW + n) for n in range(4)}
    count = BATCH_BYTES // 600_000 + 4
    small = {f"small/{n:02}.bin": os.urandom(600_000 + n) for n in range(count)}
    files = {**large, **small}
    root = write_tree(tmp_path / "tree", files)

    # The test hook ends the process abruptly once 5 upload requests have finished (the
    # four large files and a batch), as a kill would: a request in flight then may or may
    # not have reached the server.
    cut = cli.process("push", str(root), repo, "-j", "1", DATALOFT_TEST_PUSH_EXIT_AFTER_UPLOADS="5")
    assert cut.returncode == 75, cut.stderr
    assert [v["number"] for v in versions(alice, repo)] == [0]  # made, never committed
    probe = alice.client.post("/blobs/missing", json={"sha256": [sha(d) for d in files.values()]})
    missing = probe.json()["missing"]
    assert set(missing) <= {sha(data) for data in small.values()}
    assert len(missing) < len(small)

    rerun = cli.json("push", str(root), repo)
    assert rerun["committed"] is True and rerun["version"] == 1
    assert rerun["uploaded"] == len(missing)  # only what had not arrived
    assert rerun["hashed"] == 0  # the first run's hashes were kept in the index
    held = head_files(alice, repo)
    assert {path: entry["sha256"] for path, entry in held.items()} == {
        path: sha(data) for path, data in files.items()
    }


def test_symlinks_inside_are_pushed_as_symlinks(
    cli: Cli, alice: User, repo: str, tmp_path: Path
) -> None:
    root = write_tree(tmp_path / "tree", {"docs/readme.txt": b"read me", "img/a.png": b"png"})
    (root / "docs/latest").symlink_to("../img/a.png")
    (root / "top").symlink_to("docs")  # a link to a folder stays a link
    (root / "absolute").symlink_to(root / "img/a.png")  # inside, written absolute
    cli.run("push", str(root), repo)
    held = head_files(alice, repo)
    assert held["docs/latest"]["kind"] == "symlink"
    assert held["docs/latest"]["target"] == "../img/a.png"
    assert (held["top"]["kind"], held["top"]["target"]) == ("symlink", "docs")
    assert (held["absolute"]["kind"], held["absolute"]["target"]) == ("symlink", "img/a.png")
    assert held["img/a.png"]["kind"] == "file"

    # A link changed locally is a change of the link.
    (root / "docs/latest").unlink()
    (root / "docs/latest").symlink_to("readme.txt")
    changed = cli.json("push", str(root), repo)
    assert (changed["changed"], changed["uploaded"]) == (1, 0)
    assert head_files(alice, repo)["docs/latest"]["target"] == "readme.txt"


def test_a_symlink_leading_outside_is_refused(
    cli: Cli, alice: User, repo: str, tmp_path: Path
) -> None:
    root = write_tree(tmp_path / "tree", {"a.txt": b"a"})
    (root / "escape").symlink_to("../../etc/passwd")
    cli.fails(
        "push", str(root), repo, message="symlink 'escape' -> '../../etc/passwd' leads outside"
    )
    (root / "escape").unlink()
    (root / "escape").symlink_to("/etc/passwd")
    cli.fails("push", str(root), repo, message="leads outside")
    assert alice.client.get(f"/datasets/{repo}").status_code == 404  # nothing made


def test_a_file_where_the_dataset_has_a_folder_replaces_it(
    cli: Cli, alice: User, repo: str, tmp_path: Path
) -> None:
    root = write_tree(tmp_path / "tree", {"a/b.txt": b"b", "c.txt": b"c"})
    cli.run("push", str(root), repo)
    (root / "a/b.txt").unlink()
    (root / "a").rmdir()
    (root / "a").write_bytes(b"now a file")
    (root / "c.txt").unlink()
    (root / "c.txt").mkdir()
    (root / "c.txt/inner").write_bytes(b"now a folder")
    # Without --delete: what is in the way of the tree's paths goes, nothing else would.
    made = cli.json("push", str(root), repo)
    assert (made["added"], made["removed"]) == (2, 2)
    assert set(head_files(alice, repo)) == {"a", "c.txt/inner"}


def test_push_errors_are_one_line(cli: Cli, alice: User, repo: str, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"a.txt": b"a"})
    cli.fails("push", str(tmp_path / "absent"), repo, message="does not exist", status=2)
    cli.fails("push", str(root), "no-slash", message="owner/name", status=2)
    cli.fails("push", str(root), f"{repo}@3", message="takes no @VERSION", status=2)
    cli.fails("push", str(root), "someone-else/theirs", message="may not create datasets")
    cli.fails("push", str(root), repo, message="log in", DATALOFT_TOKEN="dl_not-a-token")
    cli.fails("push", str(root), repo, message="cannot connect", DATALOFT_URL="http://127.0.0.1:9")


def test_a_large_file_goes_through_the_resumable_upload(
    cli: Cli, alice: User, repo: str, tmp_path: Path
) -> None:
    # At the SDK's threshold (64 MiB) a file goes as a resumable (tus) upload.
    large = os.urandom(1 << 20) * 64
    root = write_tree(tmp_path / "tree", {"large.bin": large, "small.txt": b"s"})
    made = cli.json("push", str(root), repo)
    assert (made["uploaded"], made["uploaded_bytes"]) == (2, len(large) + 1)
    assert head_files(alice, repo)["large.bin"]["sha256"] == sha(large)


def test_a_commit_that_lost_the_race_is_refused_clearly(
    server: LiveServer,
    alice: User,
    repo: str,
    commit: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A push commits onto the head it read; here another commit lands in between (run
    # in this process: the push's last step, against the live server).
    head = commit(repo, {"a.txt": b"a"})
    commit(repo, {"b.txt": b"b"})
    plan = plan_push([LocalFile("c.txt", 1, 0, sha256=sha(b"a"))], [], delete=False)
    with Client(server.url, alice.token) as client, pytest.raises(typer.Exit) as ended:
        _commit(client, repo, plan, head, None)
    assert ended.value.exit_code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {repo} changed while this push ran (dataset ")
    assert "nothing was committed, run the push again" in error
    assert [v["number"] for v in versions(alice, repo)] == [2, 1, 0]


def test_an_unusable_index_is_one_line(cli: Cli, repo: str, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"a.txt": b"a"})
    index = cli.cache / "dataloft" / "index.sqlite3"
    index.parent.mkdir(parents=True)
    index.write_bytes(b"not a database, " * 100)
    cli.fails("push", str(root), repo, message="delete it to start afresh")
    index.unlink()
    assert cli.json("push", str(root), repo)["committed"] is True
