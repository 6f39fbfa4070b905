"""Test helpers: a real uvicorn server on a free 127.0.0.1 port (in a thread of the test's
process, or in a process of its own), test databases, names."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from sqlalchemy.engine import make_url

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.loft import Loft

ROOT = Path(__file__).resolve().parents[1]
# The cheapest password hashes argon2 makes: the suite logs in thousands of times, and the
# default cost (7 MiB, 5 passes) is the server's business, not the tests'. (Values typed Any:
# mypy checks a ``**`` argument against every keyword ``Settings`` takes.)
FAST_HASHING: dict[str, Any] = {"password_hash_memory_kib": 8, "password_hash_passes": 1}
PG_ADMIN_URL = os.environ.get(
    "DATALOFT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def test_databases() -> list[str]:
    """Which databases the suite runs on: both unless DATALOFT_TEST_DATABASES says."""
    chosen = os.environ.get("DATALOFT_TEST_DATABASES", "sqlite,postgresql")
    return [name.strip() for name in chosen.split(",") if name.strip()]


# The configuration only tests/functional runs on: PostgreSQL, and blobs in S3 (moto).
S3_CONFIGURATION = "postgresql+s3"


def test_configurations(*, functional: bool = False) -> list[str]:
    """What the session's server runs on: the databases (``test_databases``), and for
    ``tests/functional`` also ``postgresql+s3`` when PostgreSQL is among them (or when
    DATALOFT_TEST_DATABASES names it: then only there)."""
    chosen = test_databases()
    plain = [name for name in chosen if name != S3_CONFIGURATION]
    if not functional:
        return plain
    if S3_CONFIGURATION in chosen or "postgresql" in chosen:
        return [*plain, S3_CONFIGURATION]
    return plain


def end_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL after 30 s if that did not end it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def open_files(prefix: Path) -> list[str]:
    """The files this process holds open whose path starts with ``prefix`` (Linux)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed since the listing (the listing's own descriptor, for one)
            continue
        if target.startswith(str(prefix)):
            found.append(target)
    return found


def _pg_connect(database: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(PG_ADMIN_URL)
    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=database or url.database or "postgres",
        autocommit=True,
        connect_timeout=5,
    )


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    name = unique("dataloft_test_")
    try:
        admin = _pg_connect()
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Start it (see README), "
            "or run only on SQLite with DATALOFT_TEST_DATABASES=sqlite."
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _pg_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def own_settings(settings: Settings, directory: Path, **updates: Any) -> Iterator[Settings]:
    """``settings`` on a database of their own (a new SQLite file in ``directory``, or a new
    PostgreSQL database, dropped afterwards, when ``settings`` use PostgreSQL) and blobs in
    ``directory``, changed by ``updates``."""
    with contextlib.ExitStack() as stack:
        if settings.is_sqlite:
            url = f"sqlite:///{directory / 'own.sqlite3'}"
        else:
            url = stack.enter_context(postgres_database())
        yield settings.model_copy(
            update={
                "data_dir": directory,
                "database_url": url,
                "blob_url": f"file://{directory / 'blobs'}",
                **updates,
            }
        )


@contextlib.contextmanager
def own_server(
    settings: Settings, directory: Path, **updates: Any
) -> Iterator[tuple[LiveServer, Loft]]:
    """A server on a database of its own (``own_settings``): for tests whose changes must
    stay out of the session's database, or that need other settings. Yields the server
    and its ``Loft``."""
    with contextlib.ExitStack() as stack:
        own = stack.enter_context(own_settings(settings, directory, **updates))
        loft = stack.enter_context(Loft(own))
        live = LiveServer(create_app(own, loft)).start()
        stack.callback(live.stop)
        yield live, loft


class LiveServer:
    """The real ASGI app under uvicorn in a background thread, on a free port or on
    ``port`` (a server started again where its clients expect it)."""

    def __init__(self, app: object, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Usage:
    """What a block of a test cost the server: wall-clock seconds, and how far the peak
    resident memory of its processes rose (bytes, summed over the processes)."""

    seconds: float = 0.0
    peak_growth: int = 0


def children(parent: int) -> list[int]:
    """The processes whose parent is ``parent``, by id (from ``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (name) state ppid ...": the name may hold spaces, not ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(stat.parent.name))
    return found


class _LoggedProcess:
    """A server in a process of its own, its standard output and error in ``log``."""

    log: Path
    process: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        """What the server logged so far."""
        return self.log.read_text(errors="replace")

    def stop(self) -> str:
        """End the server (SIGTERM: uvicorn shuts down gracefully, a supervisor stops its
        workers first); what it logged."""
        if self.process is not None:
            end_process(self.process)
        return self.output()


class ServerProcess(_LoggedProcess):
    """The real application under uvicorn in a process of its own (``tests/debug_server.py``:
    asyncio's debug mode on, the first admin created as ``dataloft serve`` does), its
    standard output and error in ``log``. ``prefix`` is a command that runs it (``unshare
    ...``, to give it a file system of its own). A process of its own when the test needs
    what a thread cannot give: an interpreter lock that only the server's work contends
    for, or a mount namespace."""

    STARTUP_SECONDS = 60.0

    def __init__(self, settings: Settings, log: Path, prefix: Sequence[str] = ()) -> None:
        self.settings = settings
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._command = [
            *prefix,
            *(sys.executable, "-m", "tests.debug_server"),
            *(settings.model_dump_json(), str(self.port)),
        ]
        self.process = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> ServerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self._command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + self.STARTUP_SECONDS
        while True:
            try:
                httpx.get(self.url + "/loft/v1/licences", timeout=1)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the server did not start: " + self.stop()) from None
                time.sleep(0.05)

    def processes(self) -> list[int]:
        """The server's process and its children (the worker processes that decode large
        bodies), by id."""
        return [self.pid, *children(self.pid)]

    @contextlib.contextmanager
    def usage(self) -> Iterator[Usage]:
        """Measure the block: its duration, and the growth of each server process's peak
        resident memory (Linux's VmHWM, reset first through ``clear_refs``), measured
        from its resident memory when the block starts; a process started meanwhile
        counts whole."""
        before: dict[int, int] = {}
        for pid in self.processes():
            with contextlib.suppress(OSError):  # (a process that has just ended)
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak to now
                before[pid] = _memory(pid, "VmRSS")
        usage = Usage()
        started = time.monotonic()
        yield usage
        usage.seconds = time.monotonic() - started
        for pid in self.processes():
            with contextlib.suppress(OSError):
                usage.peak_growth += max(0, _memory(pid, "VmHWM") - before.get(pid, 0))


class ServedWorkers(_LoggedProcess):
    """``dataloft serve --workers <workers>`` as an operator runs it (the command, in a
    process of its own) on ``database_url``, its output in ``log``. ``environment``: more
    settings, as ``DATALOFT_*`` variables (the test's own are not passed on)."""

    STARTUP_SECONDS = 60.0

    def __init__(
        self,
        database_url: str,
        directory: Path,
        *,
        workers: int = 2,
        port: int | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.workers = workers
        self.port = free_port() if port is None else port
        self.url = f"http://127.0.0.1:{self.port}"
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "serve.log"
        self.environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DATALOFT_")},
            "PYTHONPATH": str(ROOT / "src"),
            "DATALOFT_DATABASE_URL": database_url,
            "DATALOFT_ADMIN_PASSWORD": "secret-pw",
            "DATALOFT_PASSWORD_HASH_MEMORY_KIB": "8",
            "DATALOFT_PASSWORD_HASH_PASSES": "1",
            **(environment or {}),
        }
        self.command = [
            *(sys.executable, "-c", "from dataloft.cli.main import main; main()"),
            *("serve", "--workers", str(workers), "--port", str(self.port), "--no-access-log"),
            *("--data-dir", str(directory / "data")),
        ]
        self.process = None

    def start(self) -> ServedWorkers:
        """Start it, and wait until every worker has started."""
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                self.command,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
        deadline = time.monotonic() + self.STARTUP_SECONDS
        while self.output().count("Application startup complete") < self.workers:
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)
        return self

    def worker_pids(self) -> list[int]:
        """The worker processes: the supervisor's children that serve (uvicorn starts
        them through multiprocessing, which has a resource tracker child too)."""
        assert self.process is not None
        workers = []
        for pid in children(self.process.pid):
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    workers.append(pid)
        return sorted(workers)


# What a bomb may cost the server before it is refused (issue 10's acceptance).
BOMB_SECONDS = 2.0
BOMB_BYTES = 50 * 1024 * 1024


def refused_cheaply(
    server: ServerProcess, send: Callable[[], httpx.Response], status: int
) -> httpx.Response:
    """``send()`` a bomb to ``server``: it must be answered with ``status`` within
    ``BOMB_SECONDS``, its processes' peak memory growing by less than ``BOMB_BYTES``."""
    with server.usage() as usage:
        response = send()
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert usage.seconds < BOMB_SECONDS, f"answered in {usage.seconds:.2f} s"
    assert usage.peak_growth < BOMB_BYTES, f"peak memory grew {usage.peak_growth >> 20} MiB"
    return response


def _memory(pid: int, field: str) -> int:
    """A memory figure from ``/proc/<pid>/status``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # always in kB
    raise FileNotFoundError(field)  # a process that is ending has no memory figures


# --- native API helpers shared by test modules ------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client: httpx.Client, data: bytes) -> str:
    """Put ``data`` into the blob store through ``PUT /blobs/{sha256}``; its digest."""
    digest = sha(data)
    response = client.put(f"/blobs/{digest}", content=data)
    assert response.status_code in (200, 201), response.text
    return digest


def pages(client: httpx.Client, url: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paginated listing, following ``next_cursor``."""
    cursor: str | None = None
    seen_cursors: set[str] = set()
    while True:
        query = dict(params, limit=1000)
        if cursor is not None:
            query["cursor"] = cursor
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        yield from body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return
        assert cursor not in seen_cursors, "pagination loops"
        seen_cursors.add(cursor)


class Clock:
    """The time as the core sees it in tests: now, moved forward by ``advance``, so that a
    test of token expiry need not wait for the token to expire."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def pquisby_python() -> str:
    """A Python with pquisby installed, for Pbench's visualize and compare: the one
    ``DATALOFT_TEST_PQUISBY_PYTHON`` names, or a virtual environment at ``.pquisby`` in the
    checkout, made (once, about a minute) if it is not there. pquisby pins old versions
    of many packages, so it cannot go into the suite's own environment."""
    named = os.environ.get("DATALOFT_TEST_PQUISBY_PYTHON")
    if named:
        return named
    home = Path(__file__).resolve().parent.parent / ".pquisby"
    python = home / "bin" / "python"
    with _PQUISBY_LOCK:
        if not (home / "ready").exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "pquisby"], check=True, timeout=600
            )
            (home / "ready").touch()
    return str(python)


_PQUISBY_LOCK = threading.Lock()
