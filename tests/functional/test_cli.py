"""The ``dataloft`` command line.

Commands other than ``serve`` run in-process through typer's ``CliRunner`` (fast: no
interpreter start-up per command), with the same environment a real run would get. ``serve``
runs as a real subprocess (the installed console script), as do the few tests about what a
fresh process prints.

Commands that act on accounts run against the session's ``database_url`` (SQLite and
PostgreSQL), the same database the ``server`` fixture serves, so each effect is checked over
HTTP. ``serve`` and ``db upgrade`` run on a fresh database of their own.
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
from typer.testing import CliRunner

from dataloft.cli.main import app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from dataloft.db.models import Blob, ResumableUpload
from dataloft.db.types import utcnow
from tests import support
from tests.conftest import ADMIN_PASSWORD
from tests.stores import age, blob_env
from tests.support import LiveServer, free_port, postgres_database, unique, upload

DATALOFT = Path(sys.executable).parent / "dataloft"
TIMEOUT = 60
PASSWORD = "cli-password-1"
ADMIN_HEADER = "Created the admin account admin. Its password, shown once"
# Settings each command refuses, with what the one-line error says about them.
BAD_SETTINGS = [
    ("DATALOFT_DIALECTS", "native,lenses", "unknown dialect 'lenses'"),
    ("DATALOFT_BLOB_URL", "s3://Bucket/blobs", "not a valid S3 bucket name 'Bucket'"),
    ("DATALOFT_MAX_FILE_SIZE", "lots", "valid integer"),
    ("DATALOFT_MAX_FILE_SIZE", "-5", "greater than 0"),
    ("DATALOFT_MAX_RECORD_SIZE", "0", "greater than 0"),
    ("DATALOFT_EVENT_POLL_SECONDS", "0", "greater than 0"),
    ("DATALOFT_PORT", "70000", "less than or equal to 65535"),
]

Env = dict[str, str]
Ran = subprocess.CompletedProcess[str]
Runner = Callable[..., Ran]


def base_env(**extra: str) -> Env:
    """The caller's environment without any DATALOFT_* setting, with plain wide output and
    the cheapest password hashing (as the test fixtures use)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATALOFT_")}
    env.update(COLUMNS="200", TERM="dumb", NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.update(DATALOFT_PASSWORD_HASH_MEMORY_KIB="8", DATALOFT_PASSWORD_HASH_PASSES="1")
    env.update(extra)
    return env


def invoke(*args: str, env: Env) -> Ran:
    """Run the command in this process, in ``env`` (variables this process has and ``env``
    lacks are unset for the run)."""
    changes: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    changes.update({k: v for k, v in env.items() if os.environ.get(k) != v})
    result = CliRunner().invoke(
        app, list(args), env=changes, catch_exceptions=False, prog_name="dataloft"
    )
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def spawn(*args: str, env: Env) -> Ran:
    """Run the installed console script in a process of its own."""
    return subprocess.run(
        [str(DATALOFT), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(*args: str, env: Env, run: Runner = invoke) -> Ran:
    result = run(*args, env=env)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def fails(*args: str, env: Env, message: str, run: Runner = invoke) -> Ran:
    """The command exits 1 with ``error: <message...>`` on stderr and no traceback."""
    result = run(*args, env=env)
    assert result.returncode == 1, f"{args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr, result.stderr
    return result


def one_error_line(result: Ran, variable: str, message: str) -> None:
    """The whole of stderr is one line, ``error: DATALOFT_X: <message...>``."""
    assert result.returncode == 1, f"{result.stdout}\n{result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}: "), result.stderr
    assert message in lines[0], result.stderr


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
    assert loft.blobs.save(SYSTEM, loft.blobs.from_bytes(data))
    with loft.db.write() as session:
        session.execute(
            update(Blob).where(Blob.digest == digest).values(touched=utcnow() - timedelta(days=2))
        )
    store = loft.store
    age(store, digest, 2 * 86400)  # nor uploaded again (see test below)
    # ...and a stored file with no row at all, as old.
    orphan_data = os.urandom(100)
    orphan = hashlib.sha256(orphan_data).hexdigest()
    staged = store.stage()
    staged.write(orphan_data)
    staged.publish(orphan)
    age(store, orphan, 2 * 86400)

    env = {**cli_env, **blob_env(settings)}
    dry = ok("gc", "--scan-store", "--dry-run", env=env).stdout.strip().splitlines()[0]
    assert dry == f"would remove 1 blobs ({len(data)} bytes), 1 orphan files"
    assert store.exists(digest) and store.exists(orphan)
    with loft.db.read() as session:  # not blobs.has: a check touches the blob, sparing it
        assert session.get(Blob, digest) is not None
    result = ok("gc", "--scan-store", env=env)
    blobs_line, uploads_line = result.stdout.strip().splitlines()
    assert blobs_line == f"removed 1 blobs ({len(data)} bytes), 1 orphan files"
    assert re.fullmatch(
        r"removed \d+ expired uploads \(\d+ bytes\), \d+ orphan partial files", uploads_line
    )
    assert not loft.blobs.has(SYSTEM, digest)
    assert not store.exists(digest)
    assert not store.exists(orphan)

    again = ok("gc", env=env)
    assert again.stdout.splitlines()[0] == "removed 0 blobs (0 bytes), 0 orphan files"


def test_gc_reclaims_expired_uploads(
    cli_env: Env, loft: Loft, settings: Settings, http: Callable[[str | None], httpx.Client]
) -> None:
    """An upload nobody sent bytes to for longer than DATALOFT_UPLOAD_EXPIRY_SECONDS goes,
    with its partial file, at the next ``dataloft gc``."""
    username = unique("uploader")
    loft.accounts.create_user(SYSTEM, username, "password-" + unique())
    client = http(loft.auth.create_token(SYSTEM, username=username).secret)
    tus = {"Tus-Resumable": "1.0.0"}
    url = client.post("/uploads/", headers={**tus, "Upload-Length": "10"}).headers["location"]
    sent = client.patch(
        url,
        content=b"01234",
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert sent.status_code == 204
    upload_id = url.rsplit("/", 1)[1]
    with loft.db.write() as session:
        session.execute(
            update(ResumableUpload)
            .where(ResumableUpload.id == upload_id)
            .values(touched=utcnow() - timedelta(days=2))
        )
    env = {**cli_env, "DATALOFT_DATA_DIR": str(settings.data_dir), **blob_env(settings)}
    dry = ok("gc", "--dry-run", env=env).stdout.strip().splitlines()[1]
    would = re.fullmatch(r"would remove (\d+) expired uploads \((\d+) bytes\), \d+ orphan.*", dry)
    assert would is not None and int(would[1]) >= 1 and int(would[2]) >= 5, dry
    assert loft.uploads.path_of(upload_id).exists()
    with loft.db.read() as session:
        assert session.get(ResumableUpload, upload_id) is not None
    uploads_line = ok("gc", env=env).stdout.strip().splitlines()[1]
    removed = re.fullmatch(
        r"removed (\d+) expired uploads \((\d+) bytes\), \d+ orphan.*", uploads_line
    )
    assert removed is not None and int(removed[1]) >= 1 and int(removed[2]) >= 5, uploads_line
    assert not loft.uploads.path_of(upload_id).exists()
    assert client.head(url, headers=tus).status_code == 404


def test_gc_grace_defaults_to_the_setting(cli_env: Env, loft: Loft, settings: Settings) -> None:
    """``dataloft gc`` spares blobs younger than DATALOFT_GC_GRACE_SECONDS; --grace-hours
    overrides the setting."""
    data = os.urandom(settings.inline_blob_limit + 1000)
    digest = hashlib.sha256(data).hexdigest()
    assert loft.blobs.save(SYSTEM, loft.blobs.from_bytes(data))
    with loft.db.write() as session:  # untouched for two hours, row and file
        session.execute(
            update(Blob).where(Blob.digest == digest).values(touched=utcnow() - timedelta(hours=2))
        )
    store = loft.store
    age(store, digest, 2 * 3600)
    env = {**cli_env, **blob_env(settings)}

    ok("gc", env=env)  # the default grace is a day
    assert store.exists(digest) and loft.blobs.has(SYSTEM, digest)
    with loft.db.write() as session:  # has() touched it: age the row again
        session.execute(
            update(Blob).where(Blob.digest == digest).values(touched=utcnow() - timedelta(hours=2))
        )
    ok("gc", "--grace-hours", "3", env={**env, "DATALOFT_GC_GRACE_SECONDS": "3600"})
    assert store.exists(digest)
    ok("gc", env={**env, "DATALOFT_GC_GRACE_SECONDS": "3600"})
    assert not store.exists(digest)
    assert not loft.blobs.has(SYSTEM, digest)


# --- serve -----------------------------------------------------------------------------------


class Served:
    """A ``dataloft serve`` subprocess; its stdout and stderr go to files."""

    def __init__(
        self,
        data_dir: Path,
        env: Env,
        *,
        address_from_env: bool = False,
        options: tuple[str, ...] = (),
    ) -> None:
        """``address_from_env``: pass the address as DATALOFT_HOST / DATALOFT_PORT instead
        of --host / --port. ``options``: more command-line options for ``serve``."""
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
                    *("--data-dir", str(data_dir), "--no-access-log", *options),
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

    def start(
        data_dir: Path,
        *,
        address_from_env: bool = False,
        options: tuple[str, ...] = (),
        **extra: str,
    ) -> Served:
        env = base_env(**extra)
        served = Served(data_dir, env, address_from_env=address_from_env, options=options)
        started.append(served)
        served.wait_until_up()
        return served

    yield start
    for served in started:
        served.stop()


def generated_password(output: str) -> str:
    """The generated admin password: the line after the one that announces it."""
    lines = output.splitlines()
    announced = [i for i, line in enumerate(lines) if line.startswith(ADMIN_HEADER)]
    assert len(announced) == 1, output
    password = lines[announced[0] + 1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", password), output  # token_urlsafe(18)
    return password


def test_serve_prints_a_generated_admin_password_once(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    data_dir = tmp_path / "data"
    first = serve(data_dir)
    password = generated_password(first.output())
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
        run=spawn,
    )
    assert "several workers" in result.stderr
    assert not (data_dir / "dataloft.sqlite3").exists()  # refused before touching anything


def test_serve_prints_the_generated_password_whole_on_a_narrow_terminal(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    """Nothing wraps the password at the terminal's width: it is one line, to copy whole."""
    served = serve(tmp_path / "data", COLUMNS="40")
    password = generated_password(served.output())
    assert password in served.output().splitlines()
    assert served.login("admin", password).status_code == 200


@pytest.mark.skipif("postgresql" not in support.test_databases(), reason="needs PostgreSQL")
def test_serve_with_workers_hands_its_settings_to_each_worker(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    """Two worker processes answer, with the settings the command read: --data-dir reaches
    them (blobs land under it) though it is in no environment variable."""
    data_dir = tmp_path / "data"
    with postgres_database() as url:
        served = serve(
            data_dir,
            options=("--workers", "2"),
            DATALOFT_DATABASE_URL=url,
            DATALOFT_ADMIN_PASSWORD="secret-pw",
        )
        deadline = time.monotonic() + 30
        while served.err.read_text().count("Started server process") < 2:
            assert time.monotonic() < deadline, served.err.read_text()
            time.sleep(0.1)
        pids = set(re.findall(r"Started server process \[(\d+)\]", served.err.read_text()))
        assert len(pids) == 2 and str(served.process.pid) not in pids
        for pid in pids:  # the settings travel as an object, not through the environment
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert not [v for v in environ if v.startswith(b"DATALOFT_DATA_DIR=")]

        response = served.login("admin", "secret-pw")
        assert response.status_code == 200, response.text
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        size = Settings.model_fields["inline_blob_limit"].default + 100  # not inline: a file
        for _ in range(4):  # a new connection each time: either worker may answer
            with httpx.Client(base_url=served.url, headers=headers, timeout=30) as client:
                digest = upload(client, os.urandom(size))
            assert (data_dir / "blobs" / digest[:2] / digest[2:4] / digest).is_file()
        assert served.stop() in (0, -signal.SIGTERM)


# --- bad settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value", "message"), BAD_SETTINGS)
def test_a_bad_setting_is_one_line_and_creates_nothing(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    result = invoke("db", "upgrade", "--data-dir", str(data_dir), env=base_env(**{variable: value}))
    one_error_line(result, variable, message)
    assert not data_dir.exists()


COMMANDS = [
    ("db", "upgrade"),
    ("user", "create", "someone", "--password", PASSWORD),
    ("user", "list"),
    ("user", "set-password", "someone", "--password", PASSWORD),
    ("token", "create", "someone"),
    ("token", "revoke", "1"),
    ("team", "create", "some-team", "--admin", "someone"),
    ("team", "add-member", "some-team", "someone"),
    ("gc",),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_refuses_a_bad_setting_before_opening_anything(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = base_env(DATALOFT_DATA_DIR=str(data_dir), DATALOFT_MAX_FILE_SIZE="-5")
    result = invoke(*command, env=env)
    one_error_line(result, "DATALOFT_MAX_FILE_SIZE", "greater than 0 (got '-5')")
    assert not data_dir.exists()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_on_a_database_that_does_not_answer_says_so(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    """One line naming the database's failure, not the driver's traceback."""
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    env = base_env(DATALOFT_DATA_DIR=str(tmp_path / "data"), DATALOFT_DATABASE_URL=nowhere)
    result = fails(*command, env=env, message="the database did not answer: ")
    assert "Connection refused" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [("fsck",), ("gc", "--scan-store")], ids=" ".join)
def test_fsck_and_gc_on_a_blob_store_that_does_not_answer_say_so(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    """An S3 endpoint that refuses connections: one line, exit status 1, no traceback."""
    env = base_env(
        DATALOFT_DATA_DIR=str(tmp_path / "data"),
        DATALOFT_BLOB_URL="s3://nowhere/blobs",
        DATALOFT_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        DATALOFT_S3_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    result = fails(*command, env=env, message="the S3 blob store failed")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [bad for bad in BAD_SETTINGS if bad[0] in ("DATALOFT_DIALECTS", "DATALOFT_PORT")]
    + [("DATALOFT_MAX_FILE_SIZE", "-5", "greater than 0")],
)
def test_serve_with_a_bad_setting_creates_nothing(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    """Before, serve made the data directory, the database and the admin account, printed
    the admin's one-time password and only then failed, with a traceback."""
    data_dir = tmp_path / "data"
    env = base_env(**{"DATALOFT_PORT": str(free_port()), variable: value})
    result = spawn("serve", "--data-dir", str(data_dir), env=env)
    one_error_line(result, variable, message)
    assert result.stdout == ""  # no password, no banner
    assert not data_dir.exists()


def test_an_unknown_variable_is_a_warning_on_stderr(tmp_path: Path) -> None:
    """In a process of its own: the warning reaches stderr through logging's last-resort
    handler, which pytest's log capture replaces in this process."""
    env = base_env(DATALOFT_DATA_DIR=str(tmp_path / "data"), DATALOFT_MAX_FILESIZE="1000")
    result = ok("db", "upgrade", env=env, run=spawn)
    assert result.stderr == (
        "ignoring DATALOFT_MAX_FILESIZE: there is no such setting "
        "(did you mean DATALOFT_MAX_FILE_SIZE?)\n"
    )
    assert result.stdout.startswith("schema at revision ")
