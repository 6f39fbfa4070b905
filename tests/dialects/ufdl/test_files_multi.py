"""``POST /v1/datasets/{pk}/files-multi``: a zip archive as the body (what the python
client's ``add_files`` sends), every file added in one commit, all or none; archives
that are not zips, climb out of the dataset, or unpack to more than they may are 4xx and
leave the dataset as it was."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable

import httpx
import pytest

from tests.dialects.ufdl.conftest import Ufdl, Workspace, new_dataset, upload


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _send(client: Ufdl, pk: int, body: bytes) -> httpx.Response:
    return client.http.post(
        f"/datasets/{pk}/files-multi",
        content=body,
        headers={
            "Content-Disposition": "attachment; filename=data",
            "Content-Type": "application/data",
        },
    )


def test_every_file_of_the_archive_is_added(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    members = {"a.txt": b"a", "img/x/b.bin": bytes(range(256)) * 100, "img/c.txt": b""}
    archive = _zip(members)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as with_folder:  # a folder entry adds nothing
        with_folder.writestr("folder/", b"")
        with_folder.writestr("folder/d.txt", b"d")
    added = _send(writer, pk, archive)
    assert added.status_code == 200, added.text
    assert added.json() == [
        {"filename": name, "handle": hashlib.sha256(data).hexdigest()}
        for name, data in members.items()
    ]
    assert _send(writer, pk, buffer.getvalue()).json() == [
        {"filename": "folder/d.txt", "handle": hashlib.sha256(b"d").hexdigest()}
    ]
    files = writer.http.get(f"/datasets/{pk}").json()["files"]
    # In the order they were added; files added together, by name.
    assert list(files) == ["a.txt", "img/c.txt", "img/x/b.bin", "folder/d.txt"]
    assert writer.http.get(f"/datasets/{pk}/files/img/x/b.bin").content == members["img/x/b.bin"]


def _zip_slip() -> bytes:
    """A member named ``../evil.txt`` (zipfile writes what it is told)."""
    return _zip({"good.txt": b"g", "../evil.txt": b"e"})


def _bomb() -> bytes:
    return _zip({"zeros.bin": bytes(50 * 1024 * 1024)})  # 50 MiB of zeros, about 50 KB


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (lambda: b"this is not a zip", 400, "not a zip archive"),
        (lambda: b"", 400, "not a zip archive"),
        (_zip_slip, 400, "evil.txt"),
        (_bomb, 413, "may expand at most 200 times"),
        (lambda: _zip({"a.txt": b"new", "taken.txt": b"x"}), 400, "Filename already in use"),
    ],
    ids=["not-a-zip", "empty", "zip-slip", "deflate-bomb", "clash"],
)
def test_bad_archives_change_nothing(
    writer: Ufdl, workspace: Workspace, body: Callable[[], bytes], status: int, words: str
) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    upload(writer, pk, "taken.txt", b"t")
    before = writer.http.get(f"/datasets/{pk}").json()["files"]
    refused = _send(writer, pk, body())
    assert refused.status_code == status, refused.text
    assert words in refused.json()["detail"]
    assert writer.http.get(f"/datasets/{pk}").json()["files"] == before


def test_missing_filename_header(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    response = writer.http.post(f"/datasets/{pk}/files-multi", content=_zip({"a": b"a"}))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Missing filename.")
