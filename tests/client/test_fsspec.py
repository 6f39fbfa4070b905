"""The ``dataloft://`` fsspec filesystem against the live server: fsspec finds it through
its entry point (these tests never import ``dataloft_client.fsspec``), reads by head,
version number and tag, lists with made-up folders, reads ranges (counted on the wire by a
transport that wraps httpx's own), serves pandas and pyarrow, and turns writes into
commits, a transaction into one."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import httpx
import numpy
import pandas
import pyarrow
import pyarrow.parquet
import pytest

from dataloft_client import Client, PutSymlink
from tests.conftest import User
from tests.support import ROOT, LiveServer, unique


class CountingTransport(httpx.BaseTransport):
    """httpx's own transport, counting the body bytes that come back and noting each
    request's method, path and ``Range``."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.received = 0
        self.requests: list[tuple[str, str, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, request.headers.get("range")))
        response = self.inner.handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Counted(response.stream, self),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


class _Counted(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, counter: CountingTransport) -> None:
        self.stream = stream
        self.counter = counter

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.stream:
            self.counter.received += len(chunk)
            yield chunk

    def close(self) -> None:
        self.stream.close()


def filesystem(server: LiveServer, user: User, **options: Any) -> Any:
    """A ``dataloft://`` filesystem of ``user``'s, found by protocol, of its own."""
    return fsspec.filesystem(
        "dataloft", url=server.url, token=user.token, skip_instance_cache=True, **options
    )


def versions(user: User, repo: str) -> list[dict[str, Any]]:
    """The dataset's versions through the native API, newest first."""
    response = user.client.get(f"/datasets/{repo}/versions")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_importing_the_sdk_loads_no_fsspec() -> None:
    code = "import sys, dataloft_client; print(sorted(m for m in sys.modules if 'fsspec' in m))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == "[]"


def test_fsspec_open_reads_the_head_a_version_number_and_a_tag(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    sdk.upload_file(repo, "data/train.csv", b"a,b\n1,2\n")
    sdk.upload_file(repo, "data/train.csv", b"a,b\n3,4\n")
    made = alice.client.put(f"/datasets/{repo}/tags/first", json={"version": 1})
    assert made.status_code == 201, made.text
    options = {"url": server.url, "token": alice.token}

    def read(ref: str) -> bytes:
        with fsspec.open(f"dataloft://{ref}/data/train.csv", "rb", **options) as file:
            data: bytes = file.read()
            return data

    assert read(repo) == b"a,b\n3,4\n"
    assert read(f"{repo}@1") == read(f"{repo}@first") == b"a,b\n1,2\n"
    assert read(f"{repo}@2") == b"a,b\n3,4\n"
    with fsspec.open(f"dataloft://{repo}@first/data/train.csv", "rt", **options) as text:
        assert text.read() == "a,b\n1,2\n"
    assert type(fsspec.filesystem("dataloft", **options)).__module__ == "dataloft_client.fsspec"
    with pytest.raises(FileNotFoundError):
        read(f"{repo}@nosuchtag")
    with pytest.raises(FileNotFoundError):
        read(f"{repo}@9")


def test_an_open_file_reads_the_version_it_opened_while_others_commit(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    old, new = os.urandom(300_000), os.urandom(300_000)
    sdk.upload_file(repo, "blob.bin", old)
    fs = filesystem(server, alice)
    with fs.open(f"{repo}/blob.bin", "rb", block_size=1 << 16) as file:
        start = file.read(100_000)
        sdk.upload_file(repo, "blob.bin", new)  # the head moves on mid-read
        rest = file.read()
        # A file sent to another process (dask does) reads the same version there.
        elsewhere = pickle.loads(pickle.dumps(file))
        elsewhere.seek(0)
        assert elsewhere.read() == old
    assert start + rest == old
    assert fs.cat_file(f"{repo}/blob.bin") == new


def test_listings_make_up_folders_and_find_walk_and_glob_use_them(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    for path in ("a.txt", "data/train.csv", "data/test.csv", "data/img/x.png", "docs/r.md"):
        sdk.upload_file(repo, path, path.encode())
    counter = CountingTransport()
    fs = filesystem(server, alice, transport=counter)

    top = {info["name"]: info for info in fs.ls(repo)}
    assert sorted(top) == [f"{repo}/a.txt", f"{repo}/data", f"{repo}/docs"]
    assert top[f"{repo}/data"] == {"name": f"{repo}/data", "size": 0, "type": "directory"} | {
        "version": 5
    }
    a = top[f"{repo}/a.txt"]
    assert (a["type"], a["size"], a["version"], a["content_version"]) == ("file", 5, 5, 1)
    assert a["sha256"] == sdk.get_file_info(repo, "a.txt").sha256
    assert a["media_type"] == "text/plain"
    assert fs.ls(f"dataloft://{repo}/data/", detail=False) == [
        f"{repo}/data/img",
        f"{repo}/data/test.csv",
        f"{repo}/data/train.csv",
    ]
    listed = len(counter.requests)
    # Every folder came with the first listing: walking the tree asks nothing more.
    assert fs.find(repo) == sorted(
        f"{repo}/{p}"
        for p in ("a.txt", "data/train.csv", "data/test.csv", "data/img/x.png", "docs/r.md")
    )
    assert [files for _, _, files in fs.walk(f"{repo}/data")] == [
        ["test.csv", "train.csv"],
        ["x.png"],
    ]
    assert fs.glob(f"{repo}/data/*.csv") == [f"{repo}/data/test.csv", f"{repo}/data/train.csv"]
    assert fs.glob(f"dataloft://{repo}/**/*.png") == [f"{repo}/data/img/x.png"]
    assert fs.info(f"{repo}/data/img")["type"] == "directory"
    assert fs.info(f"{repo}/data/img/x.png")["size"] == len(b"data/img/x.png")
    assert len(counter.requests) == listed

    fresh = filesystem(server, alice)  # nothing cached: info asks the server
    r_md = fresh.info(f"{repo}/docs/r.md")
    assert (r_md["type"], r_md["size"], r_md["version"]) == ("file", 9, 5)
    assert r_md["mtime"] == fresh.modified(f"{repo}/docs/r.md") and r_md["mtime"].tzinfo
    assert r_md["sha256"] == sdk.get_file_info(repo, "docs/r.md").sha256
    assert fresh.info(f"{repo}/data")["type"] == "directory"
    assert fresh.info(repo) == {"name": repo, "size": 0, "type": "directory", "version": 5}
    assert fresh.isdir(f"{repo}/data/img") and not fresh.isfile(f"{repo}/data/img")
    assert fresh.isfile(f"{repo}/a.txt") and not fresh.isdir(f"{repo}/a.txt")
    assert fresh.exists(f"{repo}/docs") and not fresh.exists(f"{repo}/nothing")
    assert fresh.ls(f"{repo}/a.txt", detail=False) == [f"{repo}/a.txt"]
    assert repo in fresh.ls(alice.username, detail=False)
    assert alice.username in fresh.ls("", detail=False)
    for missing in (f"{repo}/nothing", f"{repo}/dat", f"{repo}/data/img/y"):
        with pytest.raises(FileNotFoundError):
            fresh.ls(missing)
        with pytest.raises(FileNotFoundError):
            fresh.info(missing)
    with pytest.raises(FileNotFoundError):
        fresh.ls(f"{alice.username}/{unique('none')}")
    # An older version lists what it held, under the name asked for.
    assert fresh.find(f"{repo}@2") == [f"{repo}@2/a.txt", f"{repo}@2/data/train.csv"]


def test_a_private_dataset_of_another_user_is_not_found(
    server: LiveServer, bob: User, sdk: Client, repo: str
) -> None:
    sdk.upload_file(repo, "secret.txt", b"mine")
    fs = filesystem(server, bob)
    attempts: list[Callable[[], object]] = [
        lambda: fs.ls(repo),
        lambda: fs.info(f"{repo}/secret.txt"),
        lambda: fs.cat_file(f"{repo}/secret.txt"),
        lambda: fs.open(f"{repo}/secret.txt"),
        lambda: fs.pipe_file(f"{repo}/new.txt", b"theirs"),
    ]
    for attempt in attempts:
        with pytest.raises(FileNotFoundError):
            attempt()
    assert not fs.exists(f"{repo}/secret.txt")


def test_cat_file_reads_a_range_in_one_request(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    data = bytes(range(256)) * 40
    sdk.upload_file(repo, "bytes.bin", data)
    counter = CountingTransport()
    fs = filesystem(server, alice, transport=counter)
    assert fs.cat_file(f"{repo}/bytes.bin", 1000, 1010) == data[1000:1010]
    assert counter.requests[-1][2] == "bytes=1000-1009"
    assert counter.received == 10
    assert fs.cat_file(f"{repo}/bytes.bin", -5) == data[-5:]
    assert fs.cat_file(f"{repo}/bytes.bin", 10, -10) == data[10:-10]
    assert fs.cat_file(f"{repo}/bytes.bin", len(data) - 3, len(data) + 100) == data[-3:]
    assert fs.cat_file(f"{repo}/bytes.bin", len(data) + 5) == b""
    assert fs.cat_file(f"{repo}/bytes.bin", 7, 7) == b""
    assert fs.cat_file(f"{repo}/bytes.bin") == data
    assert fs.cat(f"{repo}/bytes.bin", start=2, end=4) == data[2:4]
    with pytest.raises(IsADirectoryError):
        fs.cat_file(repo)


def test_a_seek_near_the_end_of_a_large_file_fetches_only_what_is_read(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    data = os.urandom(6 << 20)
    sdk.upload_file(repo, "large.bin", data)
    counter = CountingTransport()
    fs = filesystem(server, alice, transport=counter)
    with fs.open(f"{repo}/large.bin", "rb") as file:
        assert file.size == len(data)
        file.seek(-1000, 2)
        assert file.read(1000) == data[-1000:]
        file.seek(2 << 20)
        assert file.read(10) == data[2 << 20 : (2 << 20) + 10]
    # The tail, then one readahead block (2 MiB) from the middle: not the 6 MiB.
    assert 1000 < counter.received <= 1000 + (2 << 20) + 10
    url = f"/loft/v1/datasets/{repo}/files/large.bin"
    assert [r for r in counter.requests if r[0] == "GET"] == [
        ("GET", url, f"bytes={len(data) - 1000}-{len(data) - 1}"),
        ("GET", url, f"bytes={2 << 20}-{(4 << 20) + 9}"),
    ]


def test_symlinks_are_listed_as_links_and_read_through(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    sdk.upload_file(repo, "data/v1.csv", b"x\n1\n")
    sdk.commit(repo, [PutSymlink("latest.csv", "data/v1.csv")])
    fs = filesystem(server, alice)
    link = fs.info(f"{repo}/latest.csv")
    assert (link["type"], link["target"]) == ("link", "data/v1.csv")
    assert fs.cat_file(f"{repo}/latest.csv") == b"x\n1\n"
    assert fs.ls(repo)[1] | {"name": "", "version": 0} == {
        "name": "",
        "size": len(b"data/v1.csv"),
        "type": "link",
        "sha256": None,
        "version": 0,
        "content_version": 2,
        "media_type": "inode/symlink",
        "metadata": None,
        "target": "data/v1.csv",
    }


def test_pandas_reads_csv_and_parquet_by_url(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    frame = pandas.DataFrame({"bird": ["robin", "wren", "tit"], "count": [3, 1, 4]})
    sdk.upload_file(repo, "counts.csv", frame.to_csv(index=False).encode())
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    sdk.upload_file(repo, "tables/counts.parquet", parquet.getvalue())
    options = {"url": server.url, "token": alice.token}
    read = pandas.read_csv(f"dataloft://{repo}/counts.csv", storage_options=options)
    pandas.testing.assert_frame_equal(read, frame)

    # pandas.read_parquet hands the options to fsspec.url_to_fs(url, ...), whose own
    # first parameter is named url: the server goes as base_url there.
    options = {"base_url": server.url, "token": alice.token}
    table = pandas.read_parquet(f"dataloft://{repo}/tables/counts.parquet", storage_options=options)
    pandas.testing.assert_frame_equal(table, frame)
    frame.to_csv(f"dataloft://{repo}/written.csv", index=False, storage_options=options)
    assert sdk.read_file(repo, "written.csv") == frame.to_csv(index=False).encode()
    assert sdk.get_dataset(repo).version == 3  # pandas wrote in text mode: one commit
    tagged = alice.client.put(f"/datasets/{repo}/tags/v1.0", json={"version": 2})
    assert tagged.status_code == 201
    at_tag = pandas.read_parquet(f"dataloft://{repo}@v1.0/tables", storage_options=options)
    pandas.testing.assert_frame_equal(at_tag, frame)


def test_pyarrow_reads_one_column_of_a_parquet_file_without_the_others(
    server: LiveServer, alice: User, sdk: Client, repo: str
) -> None:
    rows = 1 << 17  # 1 MiB of float64 per column
    table = pyarrow.table({f"c{n}": numpy.random.default_rng(n).random(rows) for n in range(8)})
    written = io.BytesIO()
    pyarrow.parquet.write_table(table, written, compression="none")
    size = len(written.getvalue())
    sdk.upload_file(repo, "wide.parquet", written.getvalue())
    counter = CountingTransport()
    fs = filesystem(server, alice, transport=counter)

    read = pyarrow.parquet.read_table(f"{repo}/wide.parquet", filesystem=fs, columns=["c3"])
    assert read.column("c3").equals(table.column("c3"))
    assert counter.received < size / 2, (counter.received, size)


def test_pipe_put_and_open_for_writing_each_make_one_commit(
    server: LiveServer, alice: User, sdk: Client, repo: str, tmp_path: Path
) -> None:
    fs = filesystem(server, alice)
    assert fs.ls(repo) == []  # cached, and invalidated by each write below
    fs.pipe_file(f"{repo}/piped.txt", b"piped", message="pipe it")
    local = tmp_path / "local.csv"
    local.write_bytes(b"a\n1\n")
    fs.put_file(str(local), f"dataloft://{repo}/put/local.csv")
    streamed = os.urandom(300_000)
    with fs.open(f"{repo}/streamed.bin", "wb", block_size=1 << 16) as file:
        for start in range(0, len(streamed), 70_000):
            file.write(streamed[start : start + 70_000])
    assert fs.find(repo) == [f"{repo}/piped.txt", f"{repo}/put/local.csv", f"{repo}/streamed.bin"]
    made = versions(alice, repo)
    assert [(v["number"], v["added"]) for v in made] == [(3, 1), (2, 1), (1, 1), (0, 0)]
    assert made[2]["message"] == "pipe it"
    assert sdk.read_file(repo, "streamed.bin") == streamed
    assert sdk.read_file(repo, "put/local.csv") == b"a\n1\n"
    assert sdk.get_file_info(repo, "put/local.csv").media_type == "text/csv"

    fs.rm_file(f"{repo}/piped.txt")
    assert versions(alice, repo)[0]["removed"] == 1
    assert fs.ls(repo, detail=False) == [f"{repo}/put", f"{repo}/streamed.bin"]
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{repo}/streamed.bin", b"x", mode="create")
    with pytest.raises(TypeError):  # a str would be a local path to the SDK
        fs.pipe_file(f"{repo}/text.txt", str(local))
    with pytest.raises(FileExistsError), fs.open(f"{repo}/put/local.csv", "xb") as file:
        file.write(b"x")
    with pytest.raises(FileExistsError):  # a file where a folder is needed
        fs.pipe_file(f"{repo}/streamed.bin/inner", b"x")
    with pytest.raises(RuntimeError), fs.open(f"{repo}/half.bin", "wb") as file:
        file.write(b"the first half")
        raise RuntimeError("no second half")
    with pytest.raises(PermissionError):
        fs.pipe_file(f"{repo}@2/piped.txt", b"versions are read-only")
    with pytest.raises(PermissionError):
        fs.rm(f"{repo}@4/streamed.bin")
    with pytest.raises(IsADirectoryError):
        fs.rm(f"{repo}/put")
    with pytest.raises(FileNotFoundError):
        fs.rm(f"{repo}/never.txt")
    assert versions(alice, repo)[0]["number"] == 4


def test_a_transaction_of_three_writes_and_a_delete_is_one_commit(
    server: LiveServer, alice: User, sdk: Client, repo: str, tmp_path: Path
) -> None:
    sdk.upload_file(repo, "old.txt", b"old")
    fs = filesystem(server, alice)
    local = tmp_path / "local.bin"
    local.write_bytes(b"from disk")
    with fs.transaction as transaction:
        transaction.message = "three writes and a delete"
        fs.pipe_file(f"{repo}/a.txt", b"a")
        fs.put_file(str(local), f"{repo}/b/local.bin")
        with fs.open(f"{repo}/c.bin", "wb") as file:
            file.write(b"c" * 1000)
        fs.rm(f"{repo}/old.txt")
        assert sdk.get_dataset(repo).version == 1  # nothing committed yet
    made = versions(alice, repo)
    assert [v["number"] for v in made] == [2, 1, 0]
    assert (made[0]["added"], made[0]["removed"]) == (3, 1)
    assert made[0]["message"] == "three writes and a delete"
    assert sorted(e.path for e in sdk.list_files(repo)) == ["a.txt", "b/local.bin", "c.bin"]
    assert sdk.read_file(repo, "c.bin") == b"c" * 1000

    with pytest.raises(RuntimeError), fs.transaction:
        fs.pipe_file(f"{repo}/d.txt", b"d")
        raise RuntimeError("changed my mind")
    assert sdk.get_dataset(repo).version == 2
    assert not fs.exists(f"{repo}/d.txt")


def test_put_copy_move_and_recursive_rm_are_one_commit_each(
    server: LiveServer, alice: User, sdk: Client, repo: str, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("one.txt", "two.txt", "sub/three.txt"):
        (tree / name).write_text(name)
    fs = filesystem(server, alice)
    fs.put(str(tree), f"{repo}/up", recursive=True)
    fs.copy(f"{repo}/up/sub", f"{repo}/copied", recursive=True)
    fs.mv(f"{repo}/up/one.txt", f"{repo}/moved.txt")
    fs.rm(f"{repo}/up", recursive=True)
    made = versions(alice, repo)
    counts = [(v["added"], v["removed"]) for v in reversed(made[:-1])]
    assert counts == [(3, 0), (1, 0), (1, 1), (0, 2)]
    assert fs.find(repo) == [f"{repo}/copied/three.txt", f"{repo}/moved.txt"]
    assert fs.cat(f"{repo}/moved.txt") == b"one.txt"
    assert fs.cat(f"{repo}/copied/three.txt") == b"sub/three.txt"
