"""The push planner: the local tree against the head's entries, as one commit's changes."""

from __future__ import annotations

from typing import Any

from dataloft.cli.plan import plan_push
from dataloft.cli.tree import LocalFile
from dataloft_client import DeleteFile, Entry, PutFile, PutSymlink


def local(path: str, digest: str = "", target: str | None = None) -> LocalFile:
    return LocalFile(path, 1, 0, target=target, sha256=None if target else digest)


def remote(path: str, digest: str | None = None, target: str | None = None) -> Entry:
    fields: dict[str, Any] = {
        "kind": "symlink" if target else "file",
        "path": path,
        "size": 1,
        "sha256": digest,
        "media_type": "text/plain",
        "version": 1,
        "metadata": None,
        "target": target,
    }
    return Entry.from_json(fields)


def test_unchanged_files_and_links_are_left_alone() -> None:
    plan = plan_push(
        [local("a", "1"), local("l", target="a")],
        [remote("a", "1"), remote("l", target="a")],
        delete=True,
    )
    assert not plan and plan.changes == [] and plan.blobs == {}


def test_new_and_changed_entries_are_put_and_counted() -> None:
    plan = plan_push(
        [local("a", "2"), local("b", "3"), local("l", target="b"), local("m", target="a")],
        [remote("a", "1"), remote("l", target="a"), remote("m", "9")],
        delete=False,
    )
    assert plan.changes == [
        PutFile("a", "2"),
        PutFile("b", "3"),
        PutSymlink("l", "b"),
        PutSymlink("m", "a"),  # a file there before: a link now
    ]
    assert (plan.added, plan.changed, plan.removed) == (1, 3, 0)
    assert set(plan.blobs) == {"2", "3"}


def test_one_blob_for_files_of_the_same_bytes() -> None:
    plan = plan_push([local("a", "5"), local("b", "5")], [], delete=False)
    assert [change.path for change in plan.changes] == ["a", "b"]
    assert list(plan.blobs) == ["5"] and plan.blobs["5"].path == "a"


def test_what_the_tree_lacks_goes_only_with_delete() -> None:
    tree, head = [local("a", "1")], [remote("a", "1"), remote("gone", "2")]
    assert not plan_push(tree, head, delete=False)
    plan = plan_push(tree, head, delete=True)
    assert plan.changes == [DeleteFile("gone")] and plan.removed == 1


def test_entries_in_the_way_of_the_tree_go_without_delete() -> None:
    # The head has a file 'a' and a folder 'b'; the tree has a folder 'a' and a file 'b'.
    plan = plan_push(
        [local("a/x", "1"), local("b", "2")],
        [remote("a", "3"), remote("b/y", "4"), remote("b/z/w", "5"), remote("c", "6")],
        delete=False,
    )
    assert plan.changes == [
        DeleteFile("a"),
        DeleteFile("b/y"),
        DeleteFile("b/z/w"),
        PutFile("a/x", "1"),
        PutFile("b", "2"),
    ]
    assert (plan.added, plan.changed, plan.removed) == (2, 0, 3)
