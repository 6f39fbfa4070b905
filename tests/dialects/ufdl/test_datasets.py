"""UFDL's datasets end to end, as the python client drives them: create, add files,
metadata, a nested filter, copy, merge with a clash, downloads, clear, soft delete,
reinstate, hard delete; and the same files and versions through ``/loft/v1``."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from collections.abc import Callable

import pytest

from tests.conftest import User
from tests.dialects.ufdl.conftest import MIT, Ufdl, Workspace, new_dataset, upload
from tests.support import unique

TEXT = "Grüße, world\n".encode()
BINARY = bytes(range(256)) * 40


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _archive(client: Ufdl, pk: int, filetype: str) -> dict[str, bytes]:
    response = client.http.post(
        f"/datasets/{pk}/download", json={"filetype": filetype, "params": {}}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/data")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"
    if filetype == "zip":
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }


def test_the_whole_life_of_a_dataset(
    workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User
) -> None:
    workspace.join(alice.username, "W")
    a = as_user(alice)
    name = unique("ds")
    ds = new_dataset(a, workspace.project["pk"], name, description="demo", tags="cats,dogs")
    assert list(ds) == [
        "pk",
        "name",
        "version",
        "previous_version",
        "description",
        "project",
        "licence",
        "is_public",
        "domain",
        "tags",
        "creator",
        "creation_time",
        "deletion_time",
        "files",
    ]
    assert (ds["version"], ds["previous_version"], ds["domain"], ds["files"]) == (1, -1, None, {})
    assert ds["tags"] == "cats,dogs" and ds["licence"] == MIT
    pk = ds["pk"]

    added = upload(a, pk, "notes/readme.txt", TEXT)
    assert added.json() == {"filename": "notes/readme.txt", "handle": _sha(TEXT)}
    assert upload(a, pk, "img/raw/a.bin", BINARY).json()["handle"] == _sha(BINARY)
    got = a.http.get(f"/datasets/{pk}/files/img/raw/a.bin")
    assert (got.status_code, got.content) == (200, BINARY)
    assert got.headers["content-security-policy"] == "sandbox"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-type"].startswith("application/data")

    meta = a.http.post(f"/datasets/{pk}/metadata/notes/readme.txt", json={"metadata": '{"l": 1}'})
    assert meta.json() == {"metadata": '{"l": 1}'}
    assert a.http.get(f"/datasets/{pk}/metadata/notes/readme.txt").json() == {
        "metadata": '{"l": 1}'
    }
    assert a.http.get(f"/datasets/{pk}/metadata").json() == {
        "notes/readme.txt": '{"l": 1}',
        "img/raw/a.bin": "",
    }
    assert a.http.get(f"/datasets/{pk}").json()["files"] == {
        "notes/readme.txt": _sha(TEXT),
        "img/raw/a.bin": _sha(BINARY),
    }

    spec = {
        "expressions": [
            {
                "type": "or",
                "sub_expressions": [
                    {
                        "type": "and",
                        "sub_expressions": [
                            {
                                "type": "contains",
                                "field": "name",
                                "sub_string": name.upper(),
                                "case_insensitive": True,
                            },
                            {"type": "compare", "field": "version", "operator": ">=", "value": 1},
                        ],
                    },
                    {"type": "exact", "field": "name", "value": unique("nothing")},
                ],
            },
            {"type": "exact", "field": "project.team.name", "value": workspace.team["name"]},
        ],
        "order_by": [{"field": "version", "ascending": False}],
    }
    assert [d["pk"] for d in a.list("/datasets", spec).json()] == [pk]

    # A copy without a name is the next version; with one, version 1 of that name.
    v2 = a.http.post(f"/datasets/{pk}/copy", json={}).json()
    assert (v2["name"], v2["version"], v2["previous_version"]) == (name, 2, 1)
    assert v2["files"] == a.http.get(f"/datasets/{pk}").json()["files"]
    v3 = a.http.post(f"/datasets/{v2['pk']}/copy", json={}).json()
    assert (v3["version"], v3["previous_version"]) == (3, 2)
    other = a.http.post(
        f"/datasets/{pk}/copy",
        json={"new_name": name + "-b", "only_files": ["img/raw/a.bin", "nope"]},
    ).json()
    assert (other["version"], other["previous_version"]) == (1, -1)
    assert list(other["files"]) == ["img/raw/a.bin"]
    taken = a.http.post(f"/datasets/{pk}/copy", json={"new_name": name + "-b"})
    assert taken.status_code == 400
    assert taken.json() == {"detail": f"Bad name '{name}-b': New dataset name is already taken"}

    # Merge: a new name is added, the same bytes are left alone, other bytes are renamed.
    assert upload(a, other["pk"], "notes/readme.txt", b"other words").status_code == 200
    assert upload(a, other["pk"], "extra.txt", b"extra").status_code == 200
    merged = a.http.post(f"/datasets/{pk}/merge/{other['pk']}", json={"delete": True})
    assert merged.status_code == 200, merged.text
    assert merged.json()["files"] == {
        "notes/readme.txt": _sha(TEXT),
        "img/raw/a.bin": _sha(BINARY),
        "notes/readme-0001.txt": _sha(b"other words"),
        "extra.txt": _sha(b"extra"),
    }
    assert a.http.get(f"/datasets/{other['pk']}").json()["deletion_time"] is not None

    expected = {
        "notes/readme.txt": TEXT,
        "img/raw/a.bin": BINARY,
        "notes/readme-0001.txt": b"other words",
        "extra.txt": b"extra",
    }
    assert _archive(a, pk, "zip") == expected
    assert _archive(a, pk, "tar.gz") == expected
    download = a.http.post(f"/datasets/{pk}/download", json={"filetype": "zip"})
    assert f'filename="{name}.v1.zip"' in download.headers["content-disposition"]

    cleared = a.http.delete(f"/datasets/{pk}/clear")
    assert cleared.status_code == 200 and cleared.json()["pk"] == pk
    assert set(a.http.get(f"/datasets/{pk}/metadata").json().values()) == {""}
    assert len(cleared.json()["files"]) == 4  # the files stay

    deleted = a.http.delete(f"/datasets/{pk}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert a.http.delete(f"/datasets/{pk}").status_code == 204  # again: still 204
    by_pk = {"expressions": [{"type": "exact", "field": "pk", "value": pk}]}
    assert a.list("/datasets", by_pk).json() == []
    assert len(a.list("/datasets", {**by_pk, "include_inactive": True}).json()) == 1
    assert a.http.get(f"/datasets/{pk}").json()["deletion_time"] is not None
    assert a.http.delete(f"/datasets/{pk}/reinstate").status_code == 403
    back = workspace.admin.http.delete(f"/datasets/{pk}/reinstate")
    assert back.status_code == 200 and back.json()["deletion_time"] is None
    gone = workspace.admin.http.delete(f"/datasets/{pk}/hard")
    assert gone.status_code == 200 and gone.json()["pk"] == pk  # UFDL: 500 after deleting
    assert a.http.get(f"/datasets/{pk}").status_code == 404


def test_same_bytes_and_versions_through_the_native_api(
    workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User
) -> None:
    workspace.join(alice.username, "W")
    a = as_user(alice)
    name = unique("ds")
    pk = new_dataset(a, workspace.project["pk"], name)["pk"]
    upload(a, pk, "a/one.txt", b"one")
    upload(a, pk, "two.bin", BINARY)
    a.http.post(f"/datasets/{pk}/metadata/two.bin", json={"metadata": "m"})
    address = f"/datasets/{alice.username}/{name}-v1"
    native = alice.client.get(address)
    assert native.status_code == 200, native.text
    dataset = native.json()
    assert dataset["version"] == 3  # add, add, metadata: three commits
    assert dataset["project"] == f"{workspace.team['name']}/{workspace.project['name']}"
    versions = alice.client.get(f"{address}/versions").json()["items"]
    assert [v["number"] for v in versions][:3] == [3, 2, 1]
    files = alice.client.get(f"{address}/files/two.bin")
    assert files.content == BINARY
    one = alice.client.get(f"{address}/files/a/one.txt", params={"version": 1})
    assert one.content == b"one"
    assert alice.client.get(f"{address}/files/two.bin", params={"version": 1}).status_code == 404


@pytest.mark.parametrize(
    ("filename", "stored"),
    [("//x/./y.txt", "x/y.txt"), ("deep/er/z.txt", "deep/er/z.txt")],
)
def test_file_names_are_normalised(
    workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User, filename: str, stored: str
) -> None:
    workspace.join(alice.username, "W")
    a = as_user(alice)
    pk = new_dataset(a, workspace.project["pk"])["pk"]
    response = upload(a, pk, filename, b"x")
    assert response.json()["filename"] == stored


def test_file_name_clashes_and_generated_names(
    workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User
) -> None:
    workspace.join(alice.username, "W")
    a = as_user(alice)
    pk = new_dataset(a, workspace.project["pk"])["pk"]
    assert upload(a, pk, "sub/dir/b.txt", b"b").status_code == 200
    assert upload(a, pk, "a.txt", b"a").status_code == 200
    for name, problem in [
        ("a.txt", "Filename already in use"),
        ("sub", "Filename is already a directory prefix"),
        ("a.txt/c", "Directory prefix is already a filename"),
    ]:
        refused = upload(a, pk, name, b"z")
        assert refused.status_code == 400
        assert refused.json() == {"detail": f"Bad name '{name}': {problem}"}
    assert upload(a, pk, "gen/", b"1").json()["filename"] == "gen/1"
    assert upload(a, pk, "gen/", b"2").json()["filename"] == "gen/2"
    # Clients normalise "../" out of a URL themselves; encoded, it reaches the server.
    for sneaky in ("..%2Fevil.txt", "a/..%2F..%2Fevil.txt"):
        escape = upload(a, pk, sneaky, b"x")
        assert escape.status_code == 400, sneaky
        assert "Cannot extend beyond top-level directory" in escape.json()["detail"]


def test_a_deleted_dataset_never_reaches_its_successor(
    workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User
) -> None:
    """A new dataset of the same name, version and project takes the deleted one's core
    name; asking for the deleted one by number must neither read nor change the new one,
    and deleting it for good must leave the new one alone."""
    workspace.join(alice.username, "W")
    a = as_user(alice)
    name = unique("ds")
    old = new_dataset(a, workspace.project["pk"], name)["pk"]
    upload(a, old, "old.txt", b"old")
    assert a.http.delete(f"/datasets/{old}").status_code == 204
    new = new_dataset(a, workspace.project["pk"], name)["pk"]
    upload(a, new, "new.txt", b"new")
    assert a.http.get(f"/datasets/{old}").json()["files"] == {"old.txt": _sha(b"old")}
    assert a.http.get(f"/datasets/{old}/files/new.txt").status_code == 400
    assert upload(a, old, "more.txt", b"x").status_code == 400
    assert a.http.post(f"/datasets/{old}/download", json={}).status_code == 400
    assert workspace.admin.http.delete(f"/datasets/{old}/hard").status_code == 200
    assert a.http.get(f"/datasets/{old}").status_code == 404
    assert a.http.get(f"/datasets/{new}").json()["files"] == {"new.txt": _sha(b"new")}
    reinstate = workspace.admin.http.delete(f"/datasets/{new}/reinstate")
    assert reinstate.status_code == 200
