"""Shared fixtures. Everything that touches a database runs once on SQLite and once on
PostgreSQL (``configuration`` is parametrized); each run gets its own fresh database, its
own blob store and its own server on a free port. ``tests/functional`` runs a third time on
PostgreSQL with an S3 blob store (moto's server: ``tests/s3.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.full_disk import FullDiskServer, full_disk_server
from tests.s3 import REGION, MotoServer, aws_environment
from tests.support import (
    FAST_HASHING,
    S3_CONFIGURATION,
    Clock,
    LiveServer,
    ServerProcess,
    postgres_database,
    test_configurations,
    unique,
)

ADMIN_PASSWORD = "admin-password"


@pytest.fixture(scope="session", params=test_configurations())
def configuration(request: pytest.FixtureRequest) -> str:
    """The database the session's server runs on, and with ``+s3`` its blob store."""
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(configuration: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if configuration == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'loft.sqlite3'}"
    elif configuration in ("postgresql", S3_CONFIGURATION):
        with postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown test configuration {configuration!r}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto's S3 server, started the first time a test needs it."""
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: MotoServer) -> str:
    """A fresh, empty bucket of ``s3_server``'s."""
    return s3_server.new_bucket()


@pytest.fixture(scope="session")
def settings(
    configuration: str,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("data")
    blobs: dict[str, Any] = {"blob_url": f"file://{data_dir / 'blobs'}"}
    with contextlib.ExitStack() as stack:
        if configuration == S3_CONFIGURATION:
            moto: MotoServer = request.getfixturevalue("s3_server")
            blobs = {
                "blob_url": f"s3://{moto.new_bucket()}/blobs",
                "s3_endpoint_url": moto.url,
                "s3_region": REGION,
            }
            # Only while this configuration's servers run: the server (and the server
            # processes tests start) find S3 credentials where boto3 looks for them.
            stack.enter_context(aws_environment())
        yield Settings(
            data_dir=data_dir,
            database_url=database_url,
            **blobs,
            admin_password=ADMIN_PASSWORD,
            event_poll_seconds=0.2,
            sse_keepalive_seconds=1.0,
            pigeon_keepalive_seconds=1.0,
            stream_recheck_seconds=0.5,
            # Every test's client is 127.0.0.1: the per-address limit has its own server in
            # tests/functional/test_login_throttle.py.
            login_failures_per_address=1_000_000,
            **FAST_HASHING,
        )


@pytest.fixture(scope="session")
def session_clock() -> Clock:
    return Clock()


@pytest.fixture
def clock(session_clock: Clock) -> Iterator[Clock]:
    """The core's clock (the session server's too), back to real time after the test."""
    yield session_clock
    session_clock.offset = timedelta()


@pytest.fixture(scope="session")
def loft(settings: Settings, session_clock: Clock) -> Iterator[Loft]:
    with Loft(settings, clock=session_clock) as core:
        core.bootstrap_admin()
        # The servers the tests start run without a lifespan (they share this core), so
        # the lens builder, which `dataloft serve` starts in its lifespan, starts here.
        core.lens_builder.start()
        yield core
        core.lens_builder.stop()


@pytest.fixture(scope="session")
def server(loft: Loft, settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(create_app(settings, loft)).start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def server_process(
    settings: Settings, loft: Loft, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The real app in a process of its own, on the suite's database and blob store: for
    tests that measure what a request costs the server (its time, its memory). Its one
    worker process, which decodes large bodies, is started here, before anything is
    measured (a Pigeon Optics bulk write of over 1 MiB needs it)."""
    one_worker = settings.model_copy(update={"worker_processes": 1})
    log = tmp_path_factory.mktemp("server-process") / "server.log"
    server = ServerProcess(one_worker, log).start()
    username, password = unique("warm"), "password-" + unique()
    loft.accounts.create_user(SYSTEM, username, password)
    with httpx.Client(base_url=server.url, auth=(username, password), timeout=60) as client:
        made = client.put("/datasets/create", json={"name": "warm-up"})
        assert made.status_code == 303, made.text
        body = {f"r{n}": "x" * 1000 for n in range(1100)}  # over 1 MiB of JSON
        written = client.post(f"/datasets/{username}:warm-up/records/", json=body)
        assert written.status_code == 204, written.text
    yield server
    server.stop()


@dataclass
class User:
    username: str
    password: str
    token: str
    client: httpx.Client


def _client(server: LiveServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url + "/loft/v1", headers=headers, timeout=30)


@pytest.fixture
def anon(server: LiveServer) -> Iterator[httpx.Client]:
    with _client(server) as client:
        yield client


@pytest.fixture
def admin(server: LiveServer, loft: Loft) -> Iterator[User]:
    made = loft.auth.create_token(SYSTEM, username="admin", name="tests")
    with _client(server, made.secret) as client:
        yield User("admin", ADMIN_PASSWORD, made.secret, client)


@pytest.fixture
def make_user(server: LiveServer, loft: Loft) -> Iterator[Callable[..., User]]:
    """Create users with unique names, each with a token and an authenticated client."""
    clients: list[httpx.Client] = []

    def factory(prefix: str = "u", *, is_admin: bool = False) -> User:
        username, password = unique(prefix), "password-" + unique()
        loft.accounts.create_user(SYSTEM, username, password, is_admin=is_admin)
        token = loft.auth.create_token(SYSTEM, username=username, name="tests").secret
        client = _client(server, token)
        clients.append(client)
        return User(username, password, token, client)

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


@pytest.fixture
def dataset(alice: User) -> str:
    """A fresh private dataset of alice's; returns its API path ``/datasets/owner/name``."""
    name = unique("ds")
    response = alice.client.post("/datasets", json={"name": name})
    assert response.status_code == 201, response.text
    return f"/datasets/{alice.username}/{name}"


@pytest.fixture(scope="session")
def blob_dir(settings: Settings) -> Path:
    return settings.data_dir / "blobs"


@pytest.fixture(scope="module")
def full_disk(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FullDiskServer]:
    """A server of its own whose data directory is a small disk that tests fill (see
    ``tests/full_disk.py``), on a fresh database of the session's kind."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with full_disk_server(kind, tmp_path_factory.mktemp("full-disk")) as server:
        yield server
