"""The ``dataloft`` command line, run as a real subprocess (the installed console script).

Commands that act on accounts run against the session's ``database_url`` (SQLite and
PostgreSQL), the same database the ``server`` fixture serves, so each effect is checked over
HTTP. ``serve`` and ``db upgrade`` run on a fresh SQLite file of their own.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from dataloft.config import Settings
from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from dataloft.db.types import utcnow
from dataloft.storage.factory import open_blob_store
from tests.conftest import ADMIN_PASSWORD
from tests.support import LiveServer, free_port, unique

DATALOFT = Path(sys.executable).parent / "dataloft"
TIMEOUT = 60
PASSWORD = "cli-password-1"
ADMIN_LINE = re.compile(r"Created the admin account admin with password (\S+) \(shown once")

Env = dict[str, str]


def base_env(**extra: str) -> Env:
    """The caller's environment without any DATALOFT_* setting, with plain wide output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATALOFT_")}
    env.update(COLUMNS="200", TERM="dumb", NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run(*args: str, env: Env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DATALOFT), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(*args: str, env: Env) -> subprocess.CompletedProcess[str]:
    result = run(*args, env=env)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def fails(*args: str, env: Env, message: str) -> subprocess.CompletedProcess[str]:
    """The command exits 1 with ``error: <message...>`` on stderr and no traceback."""
    result = run(*args, env=env)
    assert result.returncode == 1, f"{args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr, result.stderr
    return result


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> Env:
    """Settings for a CLI run on the session database, with its own data directory."""
    return base_env(
        DATALOFT_DATABASE_URL=database_url,
        DATALOFT_DATA_DIR=str(tmp_path / "data"),
        DATALOFT_BLOB_URL=f"file://{tmp_path / 'blobs'}",
    )


@pytest.fixture
def http(server: LiveServer) -> Iterator[Callable[[str | None], httpx.Client]]:
    """Clients of the session server, anonymous or with a Bearer token."""
    clients: list[httpx.Client] = []

    def factory(token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=server.url + "/loft/v1", headers=headers, timeout=30)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/auth/token", json={"username": username, "password": password})


def login_token(client: httpx.Client, username: str, password: str) -> str:
    response = login(client, username, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


# --- help ------------------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    top = ok("--help", env=base_env()).stdout
    for command in ("serve", "db", "user", "token", "team", "gc"):
        assert re.search(rf"^\W*{command}\s", top, re.MULTILINE), top
    user = ok("user", "--help", env=base_env()).stdout
    for command in ("create", "list", "set-password"):
        assert re.search(rf"^\W*{command}\s", user, re.MULTILINE), user


# --- users -----------------------------------------------------------------------------------


def test_user_create_and_list(cli_env: Env, http: Callable[[str | None], httpx.Client]) -> None:
    plain, boss = unique("cliu"), unique("clia")
    assert ok("user", "create", plain, "--password", PASSWORD, env=cli_env).stdout.strip() == (
        f"created user {plain}"
    )
    created = ok("user", "create", boss, "--password", PASSWORD, "--admin", env=cli_env)
    assert created.stdout.strip() == f"created user {boss} (admin)"

    anon = http(None)
    me = http(login_token(anon, plain, PASSWORD)).get("/me")
    assert me.status_code == 200, me.text
    assert me.json()["user"]["username"] == plain
    assert me.json()["user"]["is_admin"] is False
    assert http(login_token(anon, boss, PASSWORD)).get("/me").json()["user"]["is_admin"] is True
    assert login(anon, plain, "wrong-password").status_code == 401

    fails("user", "create", plain, "--password", PASSWORD, env=cli_env, message=plain)
    for bad in ("../x", "a b"):
        fails("user", "create", bad, "--password", PASSWORD, env=cli_env, message="invalid name")
        assert login(anon, bad, PASSWORD).status_code == 401

    listed = ok("user", "list", env=cli_env).stdout
    names = set(re.findall(r"[\w.-]+", listed))
    assert {plain, boss, "admin"} <= names, listed
    assert re.search(rf"{boss}\W+yes\W+yes", listed), listed  # admin, active


def test_user_set_password(cli_env: Env, http: Callable[[str | None], httpx.Client]) -> None:
    name, new = unique("clip"), "a-new-password"
    ok("user", "create", name, "--password", PASSWORD, env=cli_env)
    changed = ok("user", "set-password", name, "--password", new, env=cli_env)
    assert changed.stdout.strip() == f"password of {name} changed"

    anon = http(None)
    assert login(anon, name, PASSWORD).status_code == 401
    assert login(anon, name, new).status_code == 200

    ghost = unique("ghost")
    fails("user", "set-password", ghost, "--password", new, env=cli_env, message="not found")


# --- tokens ----------------------------------------------------------------------------------


def create_token(username: str, *flags: str, env: Env) -> tuple[int, str]:
    """``token create``: the id (from stderr) and the secret (the one line on stdout)."""
    made = ok("token", "create", username, *flags, env=env)
    lines = made.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dl_"), made.stdout
    found = re.search(rf"token (\d+) for {username} \(shown once\)", made.stderr)
    assert found, made.stderr
    return int(found.group(1)), lines[0]


def test_tokens(cli_env: Env, http: Callable[[str | None], httpx.Client]) -> None:
    name = unique("clit")
    ok("user", "create", name, "--password", PASSWORD, env=cli_env)

    full_id, full = create_token(name, "--name", "laptop", "--days", "7", env=cli_env)
    writer = http(full)
    assert writer.get("/me").json()["user"]["username"] == name
    tokens = {t["id"]: t for t in writer.get("/tokens").json()}
    assert tokens[full_id]["name"] == "laptop"
    assert tokens[full_id]["expires_at"] is not None
    assert writer.post("/datasets", json={"name": unique("ds")}).status_code == 201

    read_id, read_only = create_token(name, "--read-only", env=cli_env)
    assert read_id != full_id
    reader = http(read_only)
    assert reader.get("/me").json()["user"]["username"] == name
    assert reader.get("/datasets", params={"owner": name}).status_code == 200
    refused = reader.post("/datasets", json={"name": unique("ds")})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"

    revoked = ok("token", "revoke", str(read_id), env=cli_env)
    assert revoked.stdout.strip() == f"token {read_id} revoked"
    assert reader.get("/me").status_code == 401
    assert writer.get("/me").status_code == 200  # only that one token went

    fails("token", "revoke", str(read_id), env=cli_env, message=f"token {read_id} not found")
    fails("token", "create", unique("ghost"), env=cli_env, message="not found")


# --- teams -----------------------------------------------------------------------------------


def test_teams(cli_env: Env, http: Callable[[str | None], httpx.Client]) -> None:
    lead, other, team = unique("clil"), unique("clio"), unique("team")
    for name in (lead, other):
        ok("user", "create", name, "--password", PASSWORD, env=cli_env)

    created = ok("team", "create", team, "--admin", lead, "--description", "CLI", env=cli_env)
    assert created.stdout.strip() == f"created team {team} with admin {lead}"
    added = ok("team", "add-member", team, other, "--level", "w", env=cli_env)
    assert added.stdout.strip() == f"{other} is in {team} at level W"

    client = http(login_token(http(None), lead, PASSWORD))
    members = client.get(f"/teams/{team}/members")
    assert members.status_code == 200, members.text
    assert {m["username"]: m["level"] for m in members.json()} == {lead: "A", other: "W"}
    assert client.get(f"/teams/{team}").json()["description"] == "CLI"
    assert client.get("/me").json()["teams"] == {team: "A"}

    fails("team", "add-member", team, other, "--level", "Z", env=cli_env, message="level must")
    after = client.get(f"/teams/{team}/members").json()
    assert {m["username"]: m["level"] for m in after} == {lead: "A", other: "W"}

    # Neither a typo in the admin's name nor a deactivated admin may leave an admin-less
    # team behind: the team and its admin are made in one transaction.
    site_admin = http(login_token(http(None), "admin", ADMIN_PASSWORD))
    orphan, gone = unique("team"), unique("cligone")
    fails("team", "create", orphan, "--admin", unique("ghost"), env=cli_env, message="not found")
    assert site_admin.get(f"/teams/{orphan}").status_code == 404
    ok("user", "create", gone, "--password", PASSWORD, env=cli_env)
    assert site_admin.delete(f"/users/{gone}").json()["is_active"] is False
    fails("team", "create", orphan, "--admin", gone, env=cli_env, message="deactivated")
    assert site_admin.get(f"/teams/{orphan}").status_code == 404
    assert orphan not in {t["name"] for t in site_admin.get("/teams").json()}
    ok("team", "create", orphan, "--admin", other, env=cli_env)
    made = site_admin.get(f"/teams/{orphan}").json()
    assert [(m["username"], m["level"]) for m in made["members"]] == [(other, "A")]


# --- database and garbage collection ---------------------------------------------------------


def test_db_upgrade_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    database = tmp_path / "loft.sqlite3"
    env = base_env(DATALOFT_DATABASE_URL=f"sqlite:///{database}", DATALOFT_DATA_DIR=str(tmp_path))
    result = ok("db", "upgrade", env=env)
    assert re.fullmatch(r"schema at revision \S+", result.stdout.strip()), result.stdout
    assert database.is_file() and database.stat().st_size > 0
    assert ok("db", "upgrade", env=env).stdout == result.stdout  # idempotent


def test_gc_removes_unreferenced_blobs_and_orphan_files(
    cli_env: Env, loft: Loft, settings: Settings
) -> None:
    # An unreferenced blob (too big to live inline) that nobody has touched for two days...
    data = os.urandom(settings.inline_blob_limit + 1000)
    digest = hashlib.sha256(data).hexdigest()
    assert loft.blobs.save(loft.blobs.from_bytes(data))
    with loft.db.write() as session:
        session.execute(
            update(Blob).where(Blob.digest == digest).values(touched=utcnow() - timedelta(days=2))
        )
    store = open_blob_store(settings.blob_url)
    two_days_ago = time.time() - 2 * 86400
    blob_path = store.local_path(digest)
    assert blob_path is not None
    os.utime(blob_path, (two_days_ago, two_days_ago))  # nor uploaded again (see test below)
    # ...and a stored file with no row at all, as old.
    orphan_data = os.urandom(100)
    orphan = hashlib.sha256(orphan_data).hexdigest()
    staged = store.stage()
    staged.write(orphan_data)
    staged.publish(orphan)
    orphan_path = store.local_path(orphan)
    assert orphan_path is not None
    os.utime(orphan_path, (two_days_ago, two_days_ago))

    env = {**cli_env, "DATALOFT_BLOB_URL": settings.blob_url}
    result = ok("gc", "--scan-store", env=env)
    assert result.stdout.strip() == f"removed 1 blobs ({len(data)} bytes), 1 orphan files"
    assert not loft.blobs.has(digest)
    assert not store.exists(digest)
    assert not store.exists(orphan)

    again = ok("gc", env=env)
    assert again.stdout.strip() == "removed 0 blobs (0 bytes), 0 orphan files"


def test_gc_grace_defaults_to_the_setting(cli_env: Env, loft: Loft, settings: Settings) -> None:
    """``dataloft gc`` spares blobs younger than DATALOFT_GC_GRACE_SECONDS; --grace-hours
    overrides the setting."""
    data = os.urandom(settings.inline_blob_limit + 1000)
    digest = hashlib.sha256(data).hexdigest()
    assert loft.blobs.save(loft.blobs.from_bytes(data))
    with loft.db.write() as session:  # untouched for two hours, row and file
        session.execute(
            update(Blob).where(Blob.digest == digest).values(touched=utcnow() - timedelta(hours=2))
        )
    store = open_blob_store(settings.blob_url)
    blob_path = store.local_path(digest)
    assert blob_path is not None
    two_hours_ago = time.time() - 2 * 3600
    os.utime(blob_path, (two_hours_ago, two_hours_ago))
    env = {**cli_env, "DATALOFT_BLOB_URL": settings.blob_url}

    ok("gc", env=env)  # the default grace is a day
    assert store.exists(digest) and loft.blobs.has(digest)
    with loft.db.write() as session:  # has() touched it: age the row again
        session.execute(
            update(Blob).where(Blob.digest == digest).values(touched=utcnow() - timedelta(hours=2))
        )
    ok("gc", "--grace-hours", "3", env={**env, "DATALOFT_GC_GRACE_SECONDS": "3600"})
    assert store.exists(digest)
    ok("gc", env={**env, "DATALOFT_GC_GRACE_SECONDS": "3600"})
    assert not store.exists(digest)
    assert not loft.blobs.has(digest)


# --- serve -----------------------------------------------------------------------------------


class Served:
    """A ``dataloft serve`` subprocess; its stdout and stderr go to files."""

    def __init__(self, data_dir: Path, env: Env, *, address_from_env: bool = False) -> None:
        """``address_from_env``: pass the address as DATALOFT_HOST / DATALOFT_PORT instead
        of --host / --port."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/loft/v1"
        self.out = data_dir.parent / f"serve-{self.port}.out"
        self.err = data_dir.parent / f"serve-{self.port}.err"
        address = ["--host", "127.0.0.1", "--port", str(self.port)]
        if address_from_env:
            env = {**env, "DATALOFT_HOST": "127.0.0.1", "DATALOFT_PORT": str(self.port)}
            address = []
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [
                    *(str(DATALOFT), "serve", *address),
                    *("--data-dir", str(data_dir), "--no-access-log"),
                ],
                env=env,
                cwd=data_dir.parent,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def output(self) -> str:
        return self.out.read_text()

    def wait_until_up(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early: {self.output()}{self.err.read_text()}")
            try:
                response = httpx.get(self.url + "/me", timeout=2)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            assert response.status_code == 401, response.text  # up, and nobody logged in
            return
        raise AssertionError(f"serve did not answer: {self.output()}{self.err.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def login(self, username: str, password: str) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            return login(client, username, password)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(data_dir: Path, *, address_from_env: bool = False, **extra: str) -> Served:
        served = Served(data_dir, base_env(**extra), address_from_env=address_from_env)
        started.append(served)
        served.wait_until_up()
        return served

    yield start
    for served in started:
        served.stop()


def test_serve_prints_a_generated_admin_password_once(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    data_dir = tmp_path / "data"
    first = serve(data_dir)
    found = ADMIN_LINE.search(first.output())
    assert found, first.output()
    password = found.group(1)
    assert f"dataloft on http://127.0.0.1:{first.port}" in first.output()
    assert (data_dir / "dataloft.sqlite3").is_file()  # the default database, under data-dir

    response = first.login("admin", password)
    assert response.status_code == 200, response.text
    me = httpx.get(
        first.url + "/me", headers={"Authorization": f"Bearer {response.json()['token']}"}
    )
    assert me.json()["user"]["is_admin"] is True
    # SIGTERM shuts down gracefully; uvicorn then re-raises the signal it caught.
    assert first.stop() in (0, -signal.SIGTERM)
    assert "Finished server process" in first.err.read_text()

    second = serve(data_dir)
    assert "Created the admin account" not in second.output()
    assert "password" not in second.output()
    assert second.login("admin", password).status_code == 200


def test_serve_takes_the_admin_password_from_the_environment(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    served = serve(tmp_path / "data", DATALOFT_ADMIN_PASSWORD="secret-pw")
    assert "Created the admin account" not in served.output()
    assert served.login("admin", "secret-pw").status_code == 200
    assert served.login("admin", "secret-pw-2").status_code == 401


def test_serve_listens_where_the_settings_say(tmp_path: Path, serve: Callable[..., Served]) -> None:
    served = serve(tmp_path / "data", address_from_env=True, DATALOFT_ADMIN_PASSWORD="secret-pw")
    assert f"dataloft on http://127.0.0.1:{served.port}" in served.output()
    assert served.login("admin", "secret-pw").status_code == 200


def test_serve_options_override_the_settings(tmp_path: Path, serve: Callable[..., Served]) -> None:
    # DATALOFT_PORT names a port nobody listens on; --port wins.
    served = serve(tmp_path / "data", DATALOFT_PORT=str(free_port()), DATALOFT_HOST="0.0.0.0")
    assert f"dataloft on http://127.0.0.1:{served.port}" in served.output()
    assert served.login("admin", "x" * 8).status_code == 401  # up, and answering


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = base_env(DATALOFT_ADMIN_PASSWORD="secret-pw")
    result = fails(
        "serve",
        "--workers",
        "2",
        "--port",
        str(free_port()),
        "--data-dir",
        str(data_dir),
        env=env,
        message="need PostgreSQL",
    )
    assert "several workers" in result.stderr
    assert not (data_dir / "dataloft.sqlite3").exists()  # refused before touching anything
