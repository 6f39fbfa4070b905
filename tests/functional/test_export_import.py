"""``dataloft export`` and ``dataloft import``: a whole server moved to another database
and blob store, read back identical through the API.

The source is SQLite with files, filled through the real HTTP API; the target is a new
SQLite database with files, or what a team moves to: a new PostgreSQL database with an S3
bucket (moto's server). Both sides are compared with one walk (``tests/server_walk.py``),
and the source's credentials must work on the target.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.loft import Loft
from tests import support
from tests.conftest import ADMIN_PASSWORD
from tests.functional.test_cli import Env, base_env, invoke
from tests.s3 import REGION, MotoServer, aws_environment
from tests.server_walk import Account, as_user, fill, walk
from tests.stores import blob_env
from tests.support import FAST_HASHING, LiveServer, postgres_database


def site_settings(data_dir: Path, database_url: str, blob_url: str, **store: Any) -> Settings:
    """A server's settings; ``store`` holds the S3 store's settings, if it has one."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        blob_url=blob_url,
        admin_password=ADMIN_PASSWORD,
        **store,
        **FAST_HASHING,
    )


def env_of(settings: Settings) -> Env:
    return base_env(
        DATALOFT_DATA_DIR=str(settings.data_dir),
        DATALOFT_DATABASE_URL=settings.database_url,
        DATALOFT_PASSWORD_HASH_MEMORY_KIB="8",
        **blob_env(settings),
    )


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[tuple[LiveServer, Loft]]:
    with Loft(settings) as loft:
        loft.bootstrap_admin()
        live = LiveServer(create_app(settings, loft)).start()
        try:
            yield live, loft
        finally:
            live.stop()


def admin_client(server: LiveServer) -> httpx.Client:
    base = server.url + "/loft/v1"
    login = {"username": "admin", "password": ADMIN_PASSWORD, "name": "walk"}
    token = httpx.post(base + "/auth/token", json=login, timeout=30).json()["token"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@dataclass(frozen=True)
class Target:
    """Where imports go: a database and a blob store."""

    database_url: str
    blob_url: str
    store: dict[str, Any] = field(default_factory=dict)

    def settings(self, data_dir: Path) -> Settings:
        return site_settings(data_dir, self.database_url, self.blob_url, **self.store)


def _targets() -> list[str]:
    chosen = support.test_databases()
    targets = ["sqlite+file"] if "sqlite" in chosen else []
    if any(name.startswith("postgresql") for name in chosen):
        targets.append("postgresql+s3")
    return targets


@pytest.fixture(params=_targets())
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite+file":
        yield Target(f"sqlite:///{tmp_path / 'target.sqlite3'}", f"file://{tmp_path / 'tb'}")
        return
    moto: MotoServer = request.getfixturevalue("s3_server")
    # The credentials in the environment, where the target's server and commands look.
    with postgres_database() as url, aws_environment():
        store = {"s3_endpoint_url": moto.url, "s3_region": REGION}
        yield Target(url, f"s3://{moto.new_bucket()}/blobs", store)


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    data = tmp_path / "source"
    return site_settings(data, f"sqlite:///{data / 'source.sqlite3'}", f"file://{data / 'blobs'}")


def test_a_server_moves_whole(source: Settings, target: Target, tmp_path: Path) -> None:
    with serving(source) as (server, _loft), admin_client(server) as admin:
        accounts = fill(server.url + "/loft/v1", admin)
        before = walk(admin)
    exported = tmp_path / "export"
    ran = invoke("export", str(exported), "--jobs", "2", env=env_of(source))
    assert ran.returncode == 0, ran.stderr
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["tables"]["datasets"] == 4 and "uploads" not in manifest["tables"]

    moved = target.settings(tmp_path / "target")
    upgraded = invoke("db", "upgrade", env=env_of(moved))
    assert upgraded.returncode == 0, upgraded.stderr
    ran = invoke("import", str(exported), env=env_of(moved))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("imported ")
    assert invoke("fsck", env=env_of(moved)).returncode == 0

    with serving(moved) as (server, _loft), admin_client(server) as admin:
        assert walk(admin) == before
        credentials_work(server, accounts["alice"])
        # New rows get new ids past the imported ones (PostgreSQL's sequences moved).
        made = admin.post("/users", json={"username": "newcomer", "password": "password-22"})
        assert made.status_code == 201, made.text
        ids = [user["id"] for user in before["users"]]
        assert made.json()["id"] > max(ids)


def credentials_work(server: LiveServer, account: Account) -> None:
    with as_user(server.url + "/loft/v1", account) as client:
        me = client.get("/me")
        assert me.status_code == 200 and me.json()["user"]["username"] == account.username
    login = {"username": account.username, "password": account.password}
    assert httpx.post(server.url + "/loft/v1/auth/token", json=login).status_code in (200, 201)


def test_import_refuses_a_target_that_is_not_empty(
    source: Settings, target: Target, tmp_path: Path
) -> None:
    with serving(source):
        pass  # a first start: the admin account
    exported = tmp_path / "export"
    assert invoke("export", str(exported), env=env_of(source)).returncode == 0
    used = target.settings(tmp_path / "target")
    with serving(used):
        pass  # its first start made its admin: it holds data now
    ran = invoke("import", str(exported), env=env_of(used))
    assert ran.returncode == 1
    assert "error: the target database is not empty (table " in ran.stderr

    ran = invoke("export", str(exported), env=env_of(source))
    assert ran.returncode == 1
    assert "is not empty: export into a new directory" in ran.stderr
    (exported / "manifest.json").unlink()
    ran = invoke(
        "import",
        str(exported),
        env=env_of(target.settings(tmp_path / "t2")),
    )
    assert ran.returncode == 1
    assert "holds no manifest.json" in ran.stderr
