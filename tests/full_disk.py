"""A server whose data directory is a small disk of its own, and the means to fill it.

``SmallDisk`` mounts a tmpfs of ``DISK_BYTES`` on a directory in mount and user
namespaces of its own, made by ``unshare`` and kept by a holder process (``cat``, reading
a pipe from the test). The user namespace (``--map-root-user``) lets an unprivileged user
mount: the commands are the same as root or not, so the path CI takes is the one every run
takes. The mount lives exactly as long as the namespaces' processes: once the test closes
the pipe (or dies, which closes it too) and the servers in it have stopped, nothing stays
mounted. Commands join the namespaces with ``nsenter`` (``SmallDisk.command``): the server
(``tests.support.ServerProcess``), whose blobs, temporary files and, for SQLite, database
live on the small disk, and the ``dataloft`` command line. The disk outlives the servers
run on it, so a server can be stopped and another started on the same full disk. The test
reaches the files through ``/proc/<holder pid>/root``, the namespaces' view of the file
system.

SQLite is the exception: it resolves symbolic links in a database's path itself, and
``/proc/<pid>/root`` reads as a link to ``/``, so the test's queries would open a file of the
same name outside the mount. They run in a small Python joined to the namespaces instead.

``SmallDisk.full()`` fills the disk with a file of zeros until the kernel says ENOSPC, and
removes it afterwards. On SQLite it first checkpoints the write-ahead log and truncates it
to nothing (``PRAGMA wal_checkpoint(TRUNCATE)``, as closing the last connection does), so
that the database has no room left either: the first page any write adds fails. A real
log may hold some slack; an empty one is the strict case, and the same as after a restart.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import httpx
from sqlalchemy import create_engine, text

from dataloft.config import Settings
from dataloft.db.models import Base
from tests.support import FAST_HASHING, ROOT, ServerProcess, postgres_database, unique

DISK_BYTES = 32 * 1024 * 1024
PAGE = 4096  # tmpfs allocates whole pages
ADMIN_PASSWORD = "full-disk-admin-password"
# A file whose bytes go to the blob store rather than into its database row (4 KiB and
# less are kept inline): the smallest write that needs the disk whatever the database.
STORED = 64 * 1024
SQLITE_FILE = "dataloft.sqlite3"

# Mounts a tmpfs of "$1" bytes on "$2", says so, and keeps the namespaces until stdin ends.
_MOUNT_AND_HOLD = 'mount -t tmpfs -o "size=$1" tmpfs "$2" && echo mounted && exec cat'
# Runs SQL statements (argv[2:]) on the SQLite file argv[1]; prints each one's first row.
_SQLITE_QUERIES = """
import contextlib, json, sqlite3, sys
with contextlib.closing(sqlite3.connect(sys.argv[1])) as db:
    print(json.dumps([db.execute(sql).fetchone() for sql in sys.argv[2:]]))
"""


class SmallDisk:
    """A tmpfs of ``size`` bytes on ``directory`` (which must exist), in namespaces of its
    own for as long as the ``with`` block lasts (see the module docstring)."""

    def __init__(self, directory: Path, size: int, *, sqlite: bool) -> None:
        self.directory = directory
        self.size = size
        self.sqlite = sqlite
        self._holder: subprocess.Popen[str] | None = None

    def __enter__(self) -> SmallDisk:
        self._holder = subprocess.Popen(
            [
                *("unshare", "--user", "--map-root-user", "--mount", "--"),
                *("sh", "-c", _MOUNT_AND_HOLD, "sh", str(self.size), str(self.directory)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._holder.stdout is not None
        if self._holder.stdout.readline() != "mounted\n":
            _, error = self._holder.communicate(timeout=30)
            raise RuntimeError(f"could not mount a small disk: {error}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._holder is not None:
            self._holder.communicate(timeout=30)  # closes stdin: cat ends, and the mount

    @property
    def pid(self) -> int:
        assert self._holder is not None, "not mounted"
        return self._holder.pid

    def command(self, *args: str) -> list[str]:
        """``args`` as a command run on the small disk: in its namespaces, in the checkout
        (``tests`` imports from there), with the disk as its temporary directory, so that
        everything a server writes goes to the one small disk, as on a machine with one
        disk. Without ``args``, the prefix that runs a command so."""
        return [
            *("nsenter", "--target", str(self.pid), "--user", "--mount"),
            *("--preserve-credentials", f"--wdns={ROOT}", "--"),
            *("env", f"TMPDIR={self.directory}", *args),
        ]

    @property
    def root(self) -> Path:
        return Path(f"/proc/{self.pid}/root") / self.directory.relative_to("/")

    def free(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    @contextlib.contextmanager
    def full(self, room: int = 0) -> Iterator[None]:
        """The disk full for the block, but for ``room`` bytes (rounded up to whole
        pages); its space back afterwards, however the block ends."""
        if self.sqlite:
            self._empty_log()
        reserve, filler = self.root / f"reserve-{unique()}", self.root / f"filler-{unique()}"
        try:
            if room:
                reserve.write_bytes(b"\0" * room)
            _fill(filler)
            reserve.unlink(missing_ok=True)
            assert self.free() == -(-room // PAGE) * PAGE, self.free()
            yield
        finally:
            reserve.unlink(missing_ok=True)
            filler.unlink(missing_ok=True)

    def _empty_log(self) -> None:
        [(busy, _, _)] = self.sqlite_queries(["PRAGMA wal_checkpoint(TRUNCATE)"])
        assert busy == 0, "a reader kept the write-ahead log from being emptied"
        log = self.root / f"{SQLITE_FILE}-wal"  # gone if no server holds the database open
        assert not log.exists() or log.stat().st_size == 0

    def sqlite_queries(self, statements: Sequence[str]) -> list[Any]:
        """The first row of each statement, run on the SQLite database in the server's
        mount namespace (see the module docstring)."""
        database = str(self.directory / SQLITE_FILE)
        command = self.command(sys.executable, "-I", "-c", _SQLITE_QUERIES, database, *statements)
        ran = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        assert ran.returncode == 0, ran.stderr
        rows: list[Any] = json.loads(ran.stdout)
        return rows

    def staging(self) -> list[str]:
        """Files in the blob store's staging area (uploads under way or left behind)."""
        return sorted(entry.name for entry in (self.root / "blobs" / "tmp").iterdir())

    def scratch(self) -> list[str]:
        """What lies in the disk's top directory besides the filler and its reserve: the
        server's temporary directory (it holds the database and the blob store too)."""
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if not entry.name.startswith(("filler-", "reserve-"))
        )

    def blob_files(self) -> set[str]:
        """The digests of the blob files in the store."""
        return {path.name for path in (self.root / "blobs").glob("[0-9a-f][0-9a-f]/*/*")}

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest[2:4] / digest


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system has no page left."""
    block = b"\0" * (1024 * 1024)
    with path.open("wb", buffering=0) as file:
        for size in (len(block), PAGE):
            while True:
                try:
                    written = file.write(block[:size])
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
                if not written:
                    break


@dataclass(frozen=True)
class Writer:
    """The account the tests write as (not an admin: admins may name any blob)."""

    username: str
    password: str
    token: str


@dataclass
class FullDiskServer:
    """A server on a small disk, the account it knows, and how to see its state."""

    server: ServerProcess
    disk: SmallDisk
    database_url: str
    writer: Writer

    @property
    def url(self) -> str:
        return self.server.url

    def native(self) -> httpx.Client:
        """A client of the native API, as the writer."""
        return httpx.Client(
            base_url=self.url + "/loft/v1",
            headers={"Authorization": f"Bearer {self.writer.token}"},
            timeout=30,
        )

    def rows(self) -> dict[str, int]:
        """How many rows each table holds: a failed write must leave every count as it was."""
        tables = [table.name for table in Base.metadata.sorted_tables]
        counts = [f'SELECT count(*) FROM "{name}"' for name in tables]
        if self.disk.sqlite:
            found = [row[0] for row in self.disk.sqlite_queries(counts)]
        else:
            engine = create_engine(self.database_url)
            try:
                with engine.connect() as connection:
                    found = [connection.scalar(text(sql)) for sql in counts]
            finally:
                engine.dispose()
        return dict(zip(tables, found, strict=True))

    def log_size(self) -> int:
        return len(self.server.output())

    def errors_logged(self, since: int = 0) -> list[str]:
        """Lines of the server's log (from character ``since`` on) that tell of a server
        error: a traceback, as every 500 logs."""
        return [
            line
            for line in self.server.output()[since:].splitlines()
            if "Traceback" in line or "unhandled error" in line
        ]


@contextlib.contextmanager
def full_disk_server(kind: str, workspace: Path) -> Iterator[FullDiskServer]:
    """A ``ServerProcess`` whose data directory is a small disk (see the module docstring),
    on a fresh database of ``kind`` (``sqlite``: a file on that disk; ``postgresql``: a new
    database, whose own disk has room), with a writer account."""
    data_dir = workspace / "data"
    data_dir.mkdir()
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            database_url = f"sqlite:///{data_dir / SQLITE_FILE}"
        elif kind == "postgresql":
            database_url = stack.enter_context(postgres_database())
        else:
            raise ValueError(f"unknown test database {kind!r}")
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            blob_url=f"file://{data_dir / 'blobs'}",
            admin_password=ADMIN_PASSWORD,
            worker_processes=1,
            **FAST_HASHING,
        )
        disk = stack.enter_context(SmallDisk(data_dir, DISK_BYTES, sqlite=kind == "sqlite"))
        server = ServerProcess(settings, workspace / "server.log", disk.command()).start()
        stack.callback(server.stop)
        yield FullDiskServer(server, disk, database_url, _writer(server.url))


def _writer(url: str) -> Writer:
    username, password = unique("writer"), "password-" + unique()
    with httpx.Client(base_url=url + "/loft/v1", timeout=30) as client:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        admin = _ok(client.post("/auth/token", json=login))["token"]
        as_admin = {"Authorization": f"Bearer {admin}"}
        account = {"username": username, "password": password}
        _ok(client.post("/users", json=account, headers=as_admin))
        made = client.post("/tokens", json={"username": username, "name": "t"}, headers=as_admin)
        return Writer(username, password, _ok(made)["token"])


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


# --- each dialect's error, and the checks every dialect's tests make -------------------------

Write = Callable[[], httpx.Response]
DATABASE_FULL = "the server's database is full: nothing was saved"


def native_message(response: httpx.Response) -> str:
    """The message of a native API error: ``{"error": {"code", "message"}}``."""
    error = response.json()["error"]
    assert error["code"] == "insufficient_storage", error
    message: str = error["message"]
    return message


def algorithmia_message(response: httpx.Response) -> str:
    """The message of an Algorithmia error: ``{"error": {"message"}}``, and the header."""
    message: str = response.json()["error"]["message"]
    assert response.headers["X-Error-Message"] == message
    return message


def pigeon_message(response: httpx.Response) -> str:
    """The message of a Pigeon Optics error, ``{"error", "stack": false}``, in the codec
    the client asked for (JSON or CBOR), with the CORS header every answer carries."""
    if response.headers["content-type"].startswith("application/cbor"):
        body = cbor2.loads(response.content)
    else:
        body = response.json()
    assert set(body) == {"error", "stack"} and body["stack"] is False, body
    assert response.headers["access-control-allow-origin"] == "*"
    message: str = body["error"]
    return message


def needs_room_only_for_rows(
    full: FullDiskServer, write: Write, message_of: Callable[[httpx.Response], str], made: int
) -> None:
    """``write`` makes rows and stores no bytes (a dataset, a folder): on the full disk it
    is refused with 507 where the database lives on that disk (SQLite here), and done
    (status ``made``) where it does not (PostgreSQL)."""
    with full.disk.full():
        response = write()
    if full.disk.sqlite:
        assert response.status_code == 507, f"{response.status_code}: {response.text}"
        assert message_of(response) == DATABASE_FULL
    else:
        assert response.status_code == made, f"{response.status_code}: {response.text}"


def refused_for_want_of_space(
    full: FullDiskServer,
    write: Write,
    message_of: Callable[[httpx.Response], str],
    reads: Callable[[], None],
    *,
    room: int = 0,
) -> httpx.Response:
    """``write`` on the full disk (with ``room`` bytes left): a 507 whose message says so
    (``message_of`` reads it from the dialect's error shape); nothing of it kept (no row in
    any table, no blob file, nothing in the staging area or the temporary directory);
    ``reads`` still answer while the disk is full. Then, with the space back, the same
    ``write`` again, whose response (a success) is returned. And no 500 was logged."""
    # Asserts here name what they compare: pytest explains only those in test modules.
    rows, blob_files, scratch = full.rows(), full.disk.blob_files(), full.disk.scratch()
    logged = full.log_size()
    with full.disk.full(room):
        refused = write()
        assert refused.status_code == 507, f"{refused.status_code}: {refused.text}"
        message = message_of(refused)
        assert "full" in message, message
        assert full.rows() == rows, f"rows were {rows}, are {full.rows()}"
        assert full.disk.blob_files() == blob_files, "a blob file was left"
        assert full.disk.staging() == [], f"staging files left: {full.disk.staging()}"
        assert full.disk.scratch() == scratch, f"was {scratch}, is {full.disk.scratch()}"
        reads()
    again = write()
    assert again.is_success, f"{again.status_code}: {again.text}"
    errors = full.errors_logged(since=logged)
    assert errors == [], "\n".join(errors)
    return again
