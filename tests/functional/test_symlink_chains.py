"""Symlinks stay inside their dataset however they are followed: a commit after which a link
it affects leads outside the dataset (through other links, followed as the kernel follows
them) or loops is a 400 and makes no version, whether the commit adds the escaping link,
the link it passes through, replaces a folder by such a link or removes a link the chain
needed. Nothing is ever written beneath a symlink. And an accepted version's archive,
extracted by Python's ``tarfile`` and by GNU tar, puts nothing outside its folder."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import User
from tests.functional.test_bad_input import assert_error, head_version
from tests.support import LiveServer, upload

ISSUE_LINK = {"op": "put_symlink", "path": "a/b/c/d/l", "target": ".."}
ISSUE_ESCAPE = {"op": "put_symlink", "path": "esc", "target": "a/b/c/d/l/../../../../../x"}


def commit(client: httpx.Client, dataset: str, *changes: dict[str, Any]) -> httpx.Response:
    return client.post(f"{dataset}/commits", json={"changes": list(changes)})


def committed(client: httpx.Client, dataset: str, *changes: dict[str, Any]) -> int:
    response = commit(client, dataset, *changes)
    assert response.status_code == 201, response.text
    number: int = response.json()["version"]["number"]
    return number


def refused(client: httpx.Client, dataset: str, *changes: dict[str, Any]) -> str:
    """Commit ``changes``, expecting a 400 that leaves the head where it was; the message."""
    before = head_version(client, dataset)
    response = commit(client, dataset, *changes)
    assert_error(response, 400)
    assert head_version(client, dataset) == before
    message: str = response.json()["error"]["message"]
    return message


def put_file(client: httpx.Client, path: str, data: bytes = b"x") -> dict[str, Any]:
    return {"op": "put_file", "path": path, "sha256": upload(client, data)}


def link(path: str, target: str) -> dict[str, Any]:
    return {"op": "put_symlink", "path": path, "target": target}


# --- chains --------------------------------------------------------------------------------


def test_the_issue_chain_is_refused_in_one_commit(alice: User, dataset: str) -> None:
    message = refused(alice.client, dataset, ISSUE_LINK, ISSUE_ESCAPE)
    assert "'esc' -> 'a/b/c/d/l/../../../../../x' points outside the dataset" in message
    assert "'a/b/c/d/l' -> '..'" in message
    assert head_version(alice.client, dataset) == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [(ISSUE_LINK, ISSUE_ESCAPE), (ISSUE_ESCAPE, ISSUE_LINK)],
    ids=["escape-through-an-existing-link", "link-under-an-existing-chain"],
)
def test_the_issue_chain_is_refused_whichever_link_comes_last(
    alice: User, dataset: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    """Either link alone is harmless (lexically ``esc`` is ``x``). The commit that adds
    the other is refused, naming the link that would lead out, whichever it adds."""
    assert committed(alice.client, dataset, first) == 1
    message = refused(alice.client, dataset, second)
    assert "'esc' -> 'a/b/c/d/l/../../../../../x' points outside the dataset" in message


def test_replacing_a_folder_by_a_link_is_refused_when_a_chain_then_escapes(
    alice: User, dataset: str
) -> None:
    """While ``a/b/c/d/l`` is a folder, ``esc`` stays inside; made a link to ``..`` in a
    later commit, it would not."""
    files = [put_file(alice.client, "a/b/c/d/l/f"), put_file(alice.client, "x")]
    assert committed(alice.client, dataset, *files, ISSUE_ESCAPE) == 1
    delete = {"op": "delete_file", "path": "a/b/c/d/l/f"}
    assert "'esc'" in refused(alice.client, dataset, delete, ISSUE_LINK)
    # Made a link that leads deeper, the folder's place is harmless.
    assert committed(alice.client, dataset, delete, link("a/b/c/d/l", "e/f/g")) == 2


def test_removing_a_link_a_chain_needs_is_refused(alice: User, dataset: str) -> None:
    """``a/b/P`` leads up to ``a``, and ``a/L`` down to ``a/x/y/z``: ``M`` climbs three
    levels from there. Without ``a/L`` (deleted, or a file now) it would climb out."""
    chain = [link("a/b/P", ".."), link("a/L", "x/y/z"), link("M", "a/b/P/L/../../..")]
    assert committed(alice.client, dataset, *chain) == 1
    assert "'M'" in refused(alice.client, dataset, {"op": "delete_file", "path": "a/L"})
    assert "'M'" in refused(alice.client, dataset, put_file(alice.client, "a/L"))
    assert "'M'" in refused(alice.client, dataset, link("a/L", "x"))
    assert committed(alice.client, dataset, link("a/L", "p/q/r")) == 2


def test_deleting_a_folder_that_holds_a_link_a_chain_needs_is_refused(
    alice: User, dataset: str, server: LiveServer
) -> None:
    """Folder deletions (Algorithmia's) remove the links inside the folder too, and are
    refused in that dialect's error shape when a chain needed one of them."""
    chain = [link("a/b/P", ".."), link("a/F/L", "g/h/i"), link("M", "a/b/P/F/L/../../../..")]
    assert committed(alice.client, dataset, *chain, put_file(alice.client, "a/F/keep")) == 1
    owner_and_name = dataset.removeprefix("/datasets/")
    headers = {"Authorization": f"Simple {alice.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as algorithmia:
        response = algorithmia.delete(f"/v1/data/{owner_and_name}/a/F", params={"force": "true"})
    assert response.status_code == 400, response.text
    assert "'M'" in response.json()["error"]["message"]
    assert head_version(alice.client, dataset) == 1


def test_a_chain_within_the_dataset_is_accepted(alice: User, dataset: str) -> None:
    chain = [
        ISSUE_LINK,
        link("ok", "a/b/c/d/l/../x"),  # a/b/x: ".." taken from a/b/c, where l leads
        link("top", "a/b/c/d/l/../../.."),  # the root itself
        link("via", "ok"),
        put_file(alice.client, "a/b/x", b"found"),
    ]
    assert committed(alice.client, dataset, *chain) == 1
    # Unrelated commits on a dataset with links are not slowed or refused by them.
    assert committed(alice.client, dataset, put_file(alice.client, "more")) == 2


@pytest.mark.parametrize(
    "links",
    [
        [link("self", "self")],
        [link("x", "y"), link("y", "x")],
        [link("l", "l/x")],
        [link("dir/l", "../dir/l")],
    ],
    ids=["self", "pair", "through-itself", "from-a-folder"],
)
def test_a_loop_is_refused(alice: User, dataset: str, links: list[dict[str, Any]]) -> None:
    assert "loops back to itself" in refused(alice.client, dataset, *links)


def test_a_chain_of_more_than_forty_links_is_refused(alice: User, dataset: str) -> None:
    """Linux gives up after 40 links in one lookup (ELOOP), and so does the check."""
    chain = [link(f"l{i:02}", f"l{i + 1:02}") for i in range(41)]
    assert "more than 40 symlinks" in refused(alice.client, dataset, *chain)
    assert committed(alice.client, dataset, *chain[1:]) == 1


@pytest.mark.parametrize(
    ("path", "target"),
    [("link", "../outside"), ("dir/link", "../../outside"), ("dir/deep/x", "../../../x")],
)
def test_a_link_that_escapes_on_its_own_is_still_refused(
    alice: User, dataset: str, path: str, target: str
) -> None:
    message = refused(alice.client, dataset, link(path, target))
    assert f"{path!r} -> {target!r} points outside the dataset" in message


# --- nothing beneath a symlink -------------------------------------------------------------


def test_nothing_is_written_beneath_a_symlink(alice: User, dataset: str) -> None:
    assert committed(alice.client, dataset, link("l", "real"), put_file(alice.client, "a/f")) == 1
    for response in (
        commit(alice.client, dataset, put_file(alice.client, "l/x")),
        commit(alice.client, dataset, link("l/y", "z")),
        alice.client.put(f"{dataset}/files/l/deep/x", content=b"x"),
    ):
        assert_error(response, 409)
        assert (
            "'l' is a symlink, so it cannot also be a folder" in response.json()["error"]["message"]
        )
    response = commit(alice.client, dataset, link("a", "real"))
    assert_error(response, 409)
    assert "'a' is a folder, so it cannot also be a symlink" in response.json()["error"]["message"]
    assert head_version(alice.client, dataset) == 1


# --- extraction ----------------------------------------------------------------------------


@pytest.fixture
def chained_archive(alice: User, dataset: str) -> Iterator[tuple[bytes, str]]:
    """The tar.gz of a version whose links lead through each other, all inside; and the
    name of its root folder."""
    changes = [
        ISSUE_LINK,
        link("ok", "a/b/c/d/l/../x"),
        link("top", "a/b/c/d/l/../../.."),
        link("a/b/up", "../../top/a/b/x"),
        link("via", "ok"),
        put_file(alice.client, "a/b/x", b"found"),
    ]
    assert committed(alice.client, dataset, *changes) == 1
    response = alice.client.get(f"{dataset}/archive.tar.gz")
    assert response.status_code == 200, response.text
    yield response.content, f"{dataset.rpartition('/')[2]}-v1"


def check_extracted(into: Path, root: str) -> None:
    """Only the archive's root folder and its sidecars were written; every link in it
    resolves inside the root folder, and the chains lead where the kernel takes them."""
    assert sorted(p.name for p in into.iterdir()) == [root]
    top = (into / root).resolve()
    for folder, folders, files in os.walk(top):  # links to folders are not walked into
        for name in folders + files:
            resolved = Path(os.path.realpath(Path(folder, name)))
            assert resolved == top or top in resolved.parents, (folder, name, resolved)
    assert (top / "ok").read_bytes() == b"found"
    assert (top / "via").read_bytes() == b"found"
    assert (top / "a/b/up").read_bytes() == b"found"
    assert (top / "top").resolve() == top


def test_python_tarfile_extracts_a_chained_version_inside_its_folder(
    chained_archive: tuple[bytes, str], tmp_path: Path
) -> None:
    data, root = chained_archive
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(tmp_path, filter="data")
    check_extracted(tmp_path, root)


def test_gnu_tar_extracts_a_chained_version_inside_its_folder(
    chained_archive: tuple[bytes, str], tmp_path: Path
) -> None:
    data, root = chained_archive
    subprocess.run(["tar", "-xzf", "-", "-C", str(tmp_path)], input=data, check=True)
    check_extracted(tmp_path, root)
