"""``dataloft ls``, ``log``, ``diff``, ``cat``, ``tag`` and ``tags``: their lines, and
their ``--json`` (the API's own objects)."""

from __future__ import annotations

import os
from collections.abc import Callable

from tests.cli.conftest import Cli, sha
from tests.conftest import User

PHOTO = os.urandom(5000) + b"\x00\xff"  # binary, and not UTF-8


def test_ls_lists_files_records_and_datasets(
    cli: Cli, alice: User, repo: str, commit: Callable[..., int]
) -> None:
    commit(repo, {"img/photo.bin": PHOTO, "img/latest": "photo.bin", "readme.txt": b"hi"})
    commit(repo, {"readme.txt": b"hello"})
    alice.client.put(f"/datasets/{repo}/records/robin", json={"wings": 2})

    lines = cli.run("ls", repo).stdout.splitlines()
    assert [line.split() for line in lines] == [
        ["9", "-", "img/latest", "->", "photo.bin"],
        [str(len(PHOTO)), sha(PHOTO)[:12], "img/photo.bin"],
        ["5", sha(b"hello")[:12], "readme.txt"],
    ]
    old = cli.run("ls", f"{repo}@1/img/").stdout.splitlines()
    assert [line.split()[-1] for line in old] == ["photo.bin", "img/photo.bin"]
    assert cli.run("ls", f"{repo}@1/readme").stdout.split() == ["2", sha(b"hi")[:12], "readme.txt"]

    listed = cli.json("ls", repo)
    assert [entry["path"] for entry in listed] == ["img/latest", "img/photo.bin", "readme.txt"]
    assert listed[1]["sha256"] == sha(PHOTO) and listed[0]["target"] == "photo.bin"
    records = cli.json("ls", repo, "--records")
    assert [(entry["kind"], entry["path"]) for entry in records] == [("record", "robin")]
    assert cli.json("ls", f"{repo}@1/nothing-here") == []

    mine = cli.run("ls", alice.username).stdout
    assert mine.split()[:2] == [repo, "v3"], mine
    assert repo in {dataset["owner"] + "/" + dataset["name"] for dataset in cli.json("ls")}


def test_log_diff_and_tags(cli: Cli, alice: User, repo: str, commit: Callable[..., int]) -> None:
    commit(repo, {"a.txt": b"a", "b.txt": b"b"}, "first")
    commit(repo, {"a.txt": b"A", "c.txt": b"c", "l": "c.txt"}, "second")
    deleted = alice.client.delete(f"/datasets/{repo}/files/b.txt")
    assert deleted.status_code == 200, deleted.text

    assert cli.run("tag", repo, "v1.0", "1").stdout.strip() == f"{repo}@v1.0 is version 1"
    assert cli.run("tag", repo, "latest").stdout.strip() == f"{repo}@latest is version 3"
    cli.fails("tag", repo, "v1.0", "2", message="has a tag v1.0 already, at version 1")
    assert cli.json("tag", repo, "v1.0", "2", "--force")["version"] == 2
    assert [(t["name"], t["version"]) for t in cli.json("tags", repo)] == [
        ("latest", 3),
        ("v1.0", 2),
    ]
    assert [line.split()[:2] for line in cli.run("tags", repo).stdout.splitlines()] == [
        ["latest", "v3"],
        ["v1.0", "v2"],
    ]

    log = cli.run("log", repo).stdout.splitlines()
    assert [line.split()[0] for line in log] == ["v3", "v2", "v1", "v0"]
    assert log[1].split()[4:] == ["+2", "~1", "-0", "second", "[v1.0]"], log[1]
    assert log[0].endswith("[latest]") and alice.username in log[0]
    history = cli.json("log", repo)
    assert [(v["number"], v["tags"]) for v in history] == [
        (3, ["latest"]),
        (2, ["v1.0"]),
        (1, []),
        (0, []),
    ]

    assert cli.run("diff", repo, "1").stdout.splitlines() == [
        "M  a.txt",
        "D  b.txt",
        "A  c.txt",
        "A  l -> c.txt",
    ]
    assert cli.run("diff", repo, "v1.0", "latest").stdout.splitlines() == ["D  b.txt"]
    items = cli.json("diff", repo, "2", "1")
    assert [(i["change"], i["path"]) for i in items] == [
        ("changed", "a.txt"),
        ("removed", "c.txt"),
        ("removed", "l"),
    ]

    assert cli.run("tag", repo, "latest", "--delete").stdout.strip() == (
        f"deleted the tag latest of {repo}"
    )
    assert [t["name"] for t in cli.json("tags", repo)] == ["v1.0"]
    cli.fails("diff", repo, "9", message="has no version 9")
    cli.fails("tag", repo, "x", "1", "--delete", message="--delete takes no VERSION", status=2)


def test_cat_writes_the_bytes(cli: Cli, repo: str, commit: Callable[..., int]) -> None:
    commit(repo, {"img/photo.bin": PHOTO, "link": "img/photo.bin"})
    commit(repo, {"img/photo.bin": b"replaced"})
    assert cli.stdout_bytes("cat", f"{repo}@1/img/photo.bin") == PHOTO
    assert cli.run("cat", f"{repo}/img/photo.bin").stdout == "replaced"
    info = cli.json("cat", f"{repo}@1/img/photo.bin")
    assert (info["size"], info["sha256"], info["version"]) == (len(PHOTO), sha(PHOTO), 1)
    cli.fails("cat", f"{repo}/link", message="is a symlink")
    cli.fails("cat", f"{repo}/absent", message="not found")
    cli.fails("cat", repo, message="names no file", status=2)
