"""The restore procedures docs/operations.md documents (Backups), run as written:

- ``dataloft export`` from a server while writers commit, ``dataloft import`` into an
  empty one: the restored server passes ``fsck`` and holds every write acknowledged
  before the export began;
- PostgreSQL: ``pg_dump``, then a copy of the blobs; ``pg_restore`` into a new database;
- SQLite: the online ``.backup`` (the ``sqlite3`` shell, or Python's backup API), then a
  copy of the blobs.

The restored servers are compared with the originals by one walk through the API
(``tests/server_walk.py``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests import support
from tests.functional.test_cli import invoke
from tests.functional.test_export_import import admin_client, env_of, serving, site_settings
from tests.server_walk import add_user, as_user, fill, walk
from tests.support import postgres_database, sha, unique

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def copy_blobs(source: Path, target: Path) -> None:
    """The documented copy: rsync without the staging directory (or, without rsync, the
    same with Python)."""
    if shutil.which("rsync"):
        subprocess.run(["rsync", "-a", "--exclude=/tmp/", f"{source}/", f"{target}/"], check=True)
    else:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("tmp"))


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.01)


@pytest.fixture(params=support.test_databases())
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.sqlite3'}"
    url: str = request.getfixturevalue("fresh_postgres")
    return url


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def test_an_export_taken_while_writers_commit_restores_every_acknowledged_write(
    database: str, tmp_path: Path
) -> None:
    source = site_settings(tmp_path / "source", database, f"file://{tmp_path / 'source-blobs'}")
    acknowledged: list[tuple[str, str]] = []  # (path, sha256), in order
    before_export: list[tuple[str, str]] = []
    stop = threading.Event()
    failures: list[str] = []

    with serving(source) as (server, _loft), admin_client(server) as admin:
        writer = add_user(admin, "writer")
        name = unique("busy")

        def write() -> None:
            with as_user(server.url + "/loft/v1", writer) as client:
                base = f"/datasets/{writer.username}/{name}"
                n = 0
                while not stop.is_set():
                    data = os.urandom(6_000 if n % 2 else 200)
                    response = client.put(f"{base}/files/f{n}.bin", content=data)
                    if response.status_code != 201:
                        failures.append(response.text)
                        return
                    acknowledged.append((f"f{n}.bin", sha(data)))
                    n += 1

        with as_user(server.url + "/loft/v1", writer) as client:
            assert client.post("/datasets", json={"name": name}).status_code == 201
        thread = threading.Thread(target=write)
        thread.start()
        try:
            wait_until(lambda: len(acknowledged) >= 10 or not thread.is_alive())
            before_export = list(acknowledged)  # every write acknowledged by now
            ran = invoke("export", str(tmp_path / "export"), env=env_of(source))
            assert ran.returncode == 0, ran.stderr
            during = len(acknowledged)
            # Writers went on during the export (or it would prove nothing about them).
            wait_until(lambda: len(acknowledged) > during or not thread.is_alive())
        finally:
            stop.set()
            thread.join()
    assert not failures, failures

    target = site_settings(
        tmp_path / "target", f"sqlite:///{tmp_path / 'target.sqlite3'}", f"file://{tmp_path / 'tb'}"
    )
    assert invoke("db", "upgrade", env=env_of(target)).returncode == 0
    ran = invoke("import", str(tmp_path / "export"), env=env_of(target))
    assert ran.returncode == 0, ran.stderr
    checked = invoke("fsck", env=env_of(target))
    assert checked.returncode == 0, checked.stdout
    with serving(target) as (server, _loft), admin_client(server) as admin:
        base = f"/datasets/{writer.username}/{name}"
        for path, digest in before_export:
            response = admin.get(f"{base}/files/{path}")
            assert response.status_code == 200, (path, response.text)
            assert sha(response.content) == digest
        # The restored dataset is one consistent version: its head lists what it holds.
        head = admin.get(base).json()
        listed = list(support.pages(admin, f"{base}/files"))
        assert len(listed) == head["file_count"] >= len(before_export)


@pytest.mark.skipif(
    "postgresql" not in support.test_databases() or PG_BIN is None,
    reason="needs PostgreSQL and its pg_dump / pg_restore",
)
def test_the_pg_dump_procedure_restores_the_server(tmp_path: Path) -> None:
    assert PG_BIN is not None
    with postgres_database() as source_url, postgres_database() as restored_url:
        source = site_settings(tmp_path / "source", source_url, f"file://{tmp_path / 'blobs'}")
        with serving(source) as (server, _loft), admin_client(server) as admin:
            fill(server.url + "/loft/v1", admin)
            before = walk(admin)
            dump = tmp_path / "dataloft.pgdump"
            # As documented: the database first, then the blobs, while the server serves.
            subprocess.run(
                [
                    str(PG_BIN / "pg_dump"),
                    "--format=custom",
                    f"--file={dump}",
                    *pg_args(source_url),
                ],
                check=True,
            )
            copy_blobs(tmp_path / "blobs", tmp_path / "backup-blobs")
        subprocess.run(
            [str(PG_BIN / "pg_restore"), "--no-owner", *pg_args(restored_url), str(dump)],
            check=True,
        )
        restored = site_settings(
            tmp_path / "restored", restored_url, f"file://{tmp_path / 'backup-blobs'}"
        )
        assert invoke("fsck", env=env_of(restored)).returncode == 0
        with serving(restored) as (server, _loft), admin_client(server) as admin:
            assert walk(admin) == before


def pg_args(url: str) -> list[str]:
    parsed = make_url(url)
    return [
        f"--host={parsed.host or '127.0.0.1'}",
        f"--port={parsed.port or 5432}",
        f"--username={parsed.username or 'postgres'}",
        f"--dbname={parsed.database}",
    ]


@pytest.mark.parametrize("how", ["sqlite3 shell", "python backup api"])
def test_the_sqlite_backup_procedure_restores_the_server(tmp_path: Path, how: str) -> None:
    if how == "sqlite3 shell" and shutil.which("sqlite3") is None:
        pytest.skip("no sqlite3 shell on this machine")
    database = tmp_path / "data" / "dataloft.sqlite3"
    source = site_settings(tmp_path / "data", f"sqlite:///{database}", f"file://{tmp_path / 'b'}")
    backup = tmp_path / "backup" / "dataloft.sqlite3"
    backup.parent.mkdir()
    with serving(source) as (server, _loft), admin_client(server) as admin:
        fill(server.url + "/loft/v1", admin)
        before = walk(admin)
        # While the server runs: the online backup, then the blobs.
        if how == "sqlite3 shell":
            subprocess.run(["sqlite3", str(database), f".backup '{backup}'"], check=True)
        else:
            with sqlite3.connect(database) as live, sqlite3.connect(backup) as copy:
                live.backup(copy)
            live.close()
            copy.close()
        copy_blobs(tmp_path / "b", tmp_path / "backup" / "blobs")
    restored = site_settings(
        tmp_path / "backup", f"sqlite:///{backup}", f"file://{tmp_path / 'backup' / 'blobs'}"
    )
    assert invoke("fsck", env=env_of(restored)).returncode == 0
    with serving(restored) as (server, _loft), admin_client(server) as admin:
        assert walk(admin) == before
