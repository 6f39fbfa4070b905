"""Archives of datasets whose paths Windows cannot hold as file names extract safely: the
standard library's zip and tar extraction (tar with the ``data`` filter) write the encoded
names into the target folder and nowhere else; no member name is absolute, holds ``..`` or
is a Windows device name, forbidden character or trailing dot; ``<root>.paths.jsonl`` maps
the encoded members back to their paths. Paths Windows can hold are left alone."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.conftest import User
from tests.support import unique, upload
from tests.unit.core.test_portable_names import windows_problem

# dataset path -> the member name under the root folder
TRICKY = {
    "CON": "CO%4E",
    "aux.c": "au%78.c",
    "Nul .tar.gz": "Nu%6C .tar.gz",
    "com1/LPT9.log": "com%31/LPT%39.log",
    "COM\u00b9": "COM%C2%B9",
    "conin$": "conin%24",
    "notes.": "notes%2E",
    "notes ": "notes%20",
    "dir./file": "dir%2E/file",
    "logs/12:30:00.log": "logs/12%3A30%3A00.log",
    'q"uote|pipe': "q%22uote%7Cpipe",
    "what?*": "what%3F%2A",
    "<tag>.html": "%3Ctag%3E.html",
    "a%3Ab": "a%253Ab",
}
PLAIN = ["100%.txt", "café/ünï ✓.txt", "console.log", "CONFIG/aux_notes.txt"]


@pytest.fixture
def tricky(alice: User) -> tuple[str, str]:
    """A dataset of alice's holding tricky and plain paths, under a tricky name: its API
    path, and the archive's root folder."""
    name = unique("CON:set?")
    created = alice.client.post("/datasets", json={"name": name})
    assert created.status_code == 201, created.text
    dataset = f"/datasets/{alice.username}/{quote(name, safe='')}"
    changes: list[dict[str, object]] = [
        {"op": "put_file", "path": path, "sha256": upload(alice.client, path.encode())}
        for path in [*TRICKY, *PLAIN]
    ]
    changes.append({"op": "put_record", "id": "CON", "value": {"a": 1}})
    committed = alice.client.post(f"{dataset}/commits", json={"changes": changes})
    assert committed.status_code == 201, committed.text
    return dataset, name.replace(":", "%3A").replace("?", "%3F") + "-v1"


def expected_files(root: str) -> dict[str, bytes]:
    names = {**TRICKY, **{path: path for path in PLAIN}}
    return {f"{root}/{member}": path.encode() for path, member in names.items()}


def check_member_name(name: str) -> None:
    path = PurePosixPath(name)
    assert not path.is_absolute(), name
    assert ".." not in path.parts, name
    for part in path.parts:
        assert windows_problem(part) is None, (name, part)


def extracted(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def check_sidecars(files: dict[str, bytes], root: str) -> None:
    lines = [json.loads(line) for line in files.pop(f"{root}.paths.jsonl").splitlines()]
    assert {line["path"]: line["name"] for line in lines} == TRICKY
    for line in lines:
        assert "/".join(unquote(part) for part in line["name"].split("/")) == line["path"]
    records = [json.loads(line) for line in files.pop(f"{root}.records.jsonl").splitlines()]
    assert [record["id"] for record in records] == ["CON"]  # ids are data, not file names


def test_zip_of_tricky_paths_extracts_safely(
    alice: User, tricky: tuple[str, str], tmp_path: Path
) -> None:
    dataset, root = tricky
    response = alice.client.get(f"{dataset}/archive.zip")
    assert response.status_code == 200, response.text
    assert f'filename="{alice.username}-{root}.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for name in archive.namelist():
            check_member_name(name)
        archive.extractall(tmp_path)
    files = extracted(tmp_path)
    check_sidecars(files, root)
    assert files == expected_files(root)


@pytest.mark.parametrize(("suffix", "mode"), [("tar", "r:"), ("tar.gz", "r:gz")])
def test_tar_of_tricky_paths_extracts_safely(
    alice: User,
    tricky: tuple[str, str],
    tmp_path: Path,
    suffix: str,
    mode: Literal["r:", "r:gz"],
) -> None:
    dataset, root = tricky
    response = alice.client.get(f"{dataset}/archive.{suffix}")
    assert response.status_code == 200, response.text
    with tarfile.open(fileobj=io.BytesIO(response.content), mode=mode) as archive:
        for name in archive.getnames():
            check_member_name(name)
        archive.extractall(tmp_path, filter="data")
    files = extracted(tmp_path)
    check_sidecars(files, root)
    assert files == expected_files(root)


def test_archives_of_portable_paths_have_no_paths_sidecar(alice: User, dataset: str) -> None:
    changes: list[dict[str, object]] = [
        {"op": "put_file", "path": path, "sha256": upload(alice.client, path.encode())}
        for path in PLAIN
    ]
    assert alice.client.post(f"{dataset}/commits", json={"changes": changes}).status_code == 201
    response = alice.client.get(f"{dataset}/archive.zip")
    root = f"{dataset.rpartition('/')[2]}-v1"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{root}/{path}" for path in PLAIN)


def test_symlinks_keep_their_targets(alice: User, dataset: str) -> None:
    digest = upload(alice.client, b"device")
    changes = [
        {"op": "put_file", "path": "aux", "sha256": digest},
        {"op": "put_symlink", "path": "link:to", "target": "aux"},
    ]
    assert alice.client.post(f"{dataset}/commits", json={"changes": changes}).status_code == 201
    response: httpx.Response = alice.client.get(f"{dataset}/archive.tar")
    root = f"{dataset.rpartition('/')[2]}-v1"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        link = archive.getmember(f"{root}/link%3Ato")
        assert link.issym()
        assert link.linkname == "aux"  # as stored: targets are not rewritten
        assert archive.getmember(f"{root}/au%78").isfile()


@pytest.mark.parametrize("suffix", ["zip", "tar.gz"])
def test_names_too_long_once_encoded_are_shortened_and_mapped_back(
    alice: User, tmp_path: Path, suffix: str
) -> None:
    """A dataset name of 250 characters (750 bytes in UTF-8) and path segments of 255
    bytes that escaping would make 765: the archive extracts on this file system (255 bytes
    per name) and ``<root>.paths.jsonl`` still gives every path back."""
    name = "\u65e5" * 239 + unique()
    assert alice.client.post("/datasets", json={"name": name}).status_code == 201
    dataset = f"/datasets/{alice.username}/{quote(name, safe='')}"
    paths = [":" * 251 + ".log", "deep/" + "?" * 255, "\u00e9" * 127]
    changes = [
        {"op": "put_file", "path": path, "sha256": upload(alice.client, path.encode())}
        for path in paths
    ]
    assert alice.client.post(f"{dataset}/commits", json={"changes": changes}).status_code == 201
    response = alice.client.get(f"{dataset}/archive.{suffix}")
    assert response.status_code == 200, response.text
    if suffix == "zip":
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            archive.extractall(tmp_path)
    else:
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            archive.extractall(tmp_path, filter="data")
    files = extracted(tmp_path)
    (sidecar,) = [member for member in files if member.endswith(".paths.jsonl")]
    root = sidecar.removesuffix(".paths.jsonl")
    assert root.startswith("\u65e5" * 70) and len(root.encode()) <= 255 - len(".records.jsonl")
    lines = [json.loads(line) for line in files.pop(sidecar).splitlines()]
    restored = {line["path"]: files[f"{root}/{line['name']}"] for line in lines}
    assert restored == {path: path.encode() for path in paths[:2]}
    assert files[f"{root}/{paths[2]}"] == paths[2].encode()  # 254 bytes: kept as it is
