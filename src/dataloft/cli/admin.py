"""The operator commands: run the server and administer it from a shell (``serve``,
``db``, ``user``, ``token``, ``team``, ``gc``).

Every command reads the same ``DATALOFT_*`` settings as the server (``--data-dir`` overrides
the data directory), so ``dataloft user create`` on the server machine acts on the same
database the server uses. Every command reads them in one place, ``_settings``, which
refuses a bad value with one line before the command creates anything, and every command
closes the ``Loft`` it opens.

They work on the server's database directly, so they need the server's code (SQLAlchemy,
the core); it is imported inside the commands, never when this module is, so that the
data client's commands (which share the ``dataloft`` program) start without it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from dataloft.cli.app import ADMIN_PANEL, app
from dataloft.cli.output import console, err, fail

if TYPE_CHECKING:
    import socket

    from dataloft.config import Settings
    from dataloft.core.loft import Loft

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (the key every dialect accepts).", no_args_is_help=True)
team_app = typer.Typer(help="Teams and their members.", no_args_is_help=True)
app.add_typer(db_app, name="db", rich_help_panel=ADMIN_PANEL)
app.add_typer(user_app, name="user", rich_help_panel=ADMIN_PANEL)
app.add_typer(token_app, name="token", rich_help_panel=ADMIN_PANEL)
app.add_typer(team_app, name="team", rich_help_panel=ADMIN_PANEL)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default: $DATALOFT_DATA_DIR or ./dataloft-data)"
    ),
]


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    """The settings a command runs with: the environment's, under the command's options.
    A bad value ends the command here, before it has created anything."""
    from dataloft.config import SettingsError, load_settings

    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        return load_settings(**overrides)
    except SettingsError as error:
        fail(str(error))


def _show_secret(secret: str) -> None:
    """A secret shown once, on stdout on a line of its own, as plain text: no terminal width
    wraps it and no highlighting styles part of it, so it copies whole."""
    typer.echo(secret)


def _open(data_dir: Path | None) -> Loft:
    """The core on the settings' database, for a ``with`` block that closes it."""
    return _loft(_settings(data_dir))


def _loft(settings: Settings) -> Loft:
    """The core on ``settings``; a database it cannot open (one on a full disk, say) ends
    the command with one line saying why."""
    from dataloft.core.loft import Loft

    with _reported():
        return Loft(settings)


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """Turn a domain error, or a database or blob store that does not answer, into a
    message and exit status 1 (an operator's command, not a traceback)."""
    from sqlalchemy.exc import OperationalError

    from dataloft.core.errors import LoftError
    from dataloft.storage import StoreUnavailable

    try:
        yield
    except LoftError as error:
        fail(error.message)
    except StoreUnavailable as error:
        fail(str(error))
    except OperationalError as error:
        # The server down, refusing, or the network between: the driver's first line says
        # which (the rest is SQLAlchemy's pointer to its documentation).
        reason = str(error.orig or error).strip().splitlines()[0]
        fail(f"the database did not answer: {reason}")


@app.command(rich_help_panel=ADMIN_PANEL)
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on [default: $DATALOFT_HOST or 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port to listen on [default: $DATALOFT_PORT or 8080]"),
    ] = None,
    data_dir: DataDir = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (more than 1 needs PostgreSQL)")
    ] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = True,
) -> None:
    """Run the HTTP server. On first start it creates the admin account 'admin' with the
    password in $DATALOFT_ADMIN_PASSWORD, or prints a generated one once."""
    # Options given on the command line win over the DATALOFT_HOST / DATALOFT_PORT settings.
    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    settings = _settings(data_dir, **overrides)
    if workers > 1 and settings.is_sqlite:
        # SQLite serialises writers through one file lock and the generated admin password
        # would race between processes: several processes need a real database server.
        fail(
            f"several workers (--workers {workers}) need PostgreSQL "
            "(DATALOFT_DATABASE_URL=postgresql+psycopg://...); SQLite serves one process"
        )
    import uvicorn

    from dataloft.api.app import create_app
    from dataloft.core.loft import ADMIN_USERNAME

    with _loft(settings) as loft:
        with _reported():
            password = loft.bootstrap_admin()
        if password is not None:
            console.print(
                f"Created the admin account [bold]{ADMIN_USERNAME}[/bold]. Its password, shown "
                "once (change it with 'dataloft user set-password'):"
            )
            _show_secret(password)
        address, data = f"{settings.host}:{settings.port}", settings.data_dir.resolve()
        console.print(f"dataloft on http://{address}  data: {data}")
        console.print(f"database: {loft.db.engine.url.render_as_string(hide_password=True)}")
        if workers == 1:
            uvicorn.run(
                create_app(settings, loft),
                host=settings.host,
                port=settings.port,
                log_level="info",
                access_log=access_log,
            )
            return
    # Each worker process opens a Loft of its own; this one is closed before they start.
    _serve_with_workers(settings, workers, access_log=access_log)


WORKER_PING_SECONDS = 30


def _serve_with_workers(settings: Settings, workers: int, *, access_log: bool) -> None:
    """Run ``workers`` server processes on the port, each with ``settings`` (and on
    Linux each with a listening socket of its own: ``cli/listeners.py``).

    ``uvicorn.run`` insists on an import string for workers, and a worker would then build
    its settings anew from the environment, where options like --data-dir are not. So this
    does what ``uvicorn.run`` does, with the app as a factory bound to the settings already
    read: uvicorn pickles the config, and with it the factory and the settings, into each
    worker it spawns, and each worker calls the factory (uvicorn's Config.load).

    A scrape of /metrics reaches one worker, and must report them all: the workers keep
    their metrics in files of a directory made here, fresh (what another run left there
    would be counted too), named in ``PROMETHEUS_MULTIPROC_DIR`` before they start (each
    reads it when it first imports ``prometheus_client``), and removed when they are all
    gone (``api/metrics.py``).
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from dataloft.api.app import create_app
    from dataloft.api.metrics import MULTIPROCESS_DIR
    from dataloft.cli.listeners import SPREADS_CONNECTIONS, WorkerListener, reserve

    config = uvicorn.Config(
        functools.partial(create_app, settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        access_log=access_log,
        # The supervisor kills a worker that takes this long to answer its ping, also while
        # it starts; uvicorn's 5 s killed workers still importing on a loaded machine.
        timeout_worker_healthcheck=WORKER_PING_SECONDS,
    )
    if SPREADS_CONNECTIONS:
        # A listening socket per worker (cli/listeners.py), this one holding the port.
        try:
            held = reserve(settings.host, settings.port)
        except OSError as error:
            fail(f"cannot listen on {settings.host}:{settings.port}: {error.strerror}")
        port = held.getsockname()[1]
        console.print(f"{workers} workers, each listening on port {port}")
        # What uvicorn hands each worker it starts is pickled, and unpickles as a socket.
        sockets = cast("list[socket.socket]", [WorkerListener(settings.host, port, config.backlog)])
    else:
        held = config.bind_socket()
        sockets = [held]
    metrics_dir = tempfile.mkdtemp(prefix="dataloft-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics_dir
    try:
        Multiprocess(config, sockets=sockets).run()
    finally:
        held.close()
        os.environ.pop(MULTIPROCESS_DIR, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date (the server does this on start too)."""
    from dataloft.db.migrate import current_revision

    with _open(data_dir) as loft:
        console.print(f"schema at revision {current_revision(loft.db.engine)}")


@user_app.command("create")
def user_create(
    username: str,
    password: Annotated[
        str | None, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make a site admin")] = False,
    email: Annotated[str | None, typer.Option()] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user account."""
    from dataloft.core.access import SYSTEM

    with _open(data_dir) as loft:
        with _reported():
            user = loft.accounts.create_user(
                SYSTEM, username, password, email=email, is_admin=admin
            )
        console.print(f"created user {user.username}" + (" (admin)" if user.is_admin else ""))


@user_app.command("list")
def user_list(data_dir: DataDir = None) -> None:
    """List user accounts."""
    from rich.table import Table

    from dataloft.core.access import SYSTEM

    with _open(data_dir) as loft:
        table = Table("username", "admin", "active", "email", "created")
        for user in loft.accounts.iter_users(SYSTEM):
            table.add_row(
                user.username,
                "yes" if user.is_admin else "",
                "yes" if user.is_active else "no",
                user.email or "",
                user.created.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(table)


@user_app.command("set-password")
def user_set_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    data_dir: DataDir = None,
) -> None:
    """Set a user's password."""
    from dataloft.core.access import SYSTEM

    with _open(data_dir) as loft:
        with _reported():
            loft.accounts.update_user(SYSTEM, username, {"password": password})
        console.print(f"password of {username} changed")


@token_app.command("create")
def token_create(
    username: str,
    name: Annotated[str, typer.Option(help="A label to recognise the token by")] = "cli",
    days: Annotated[int | None, typer.Option(help="Expire after this many days")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Token can only read")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create an API token for a user and print it (once)."""
    from dataloft.core.access import SYSTEM
    from dataloft.db.types import utcnow

    with _open(data_dir) as loft:
        expires = utcnow() + timedelta(days=days) if days else None
        with _reported():
            made = loft.auth.create_token(
                SYSTEM,
                username=username,
                name=name,
                expires_at=expires,
                scope="read" if read_only else None,
            )
        err.print(f"token {made.token.id} for {username} (shown once):")
        _show_secret(made.secret)


@token_app.command("revoke")
def token_revoke(token_id: int, data_dir: DataDir = None) -> None:
    """Revoke an API token by its id."""
    from dataloft.core.access import SYSTEM

    with _open(data_dir) as loft:
        with _reported():
            loft.auth.revoke_token(SYSTEM, token_id)
        console.print(f"token {token_id} revoked")


@team_app.command("create")
def team_create(
    name: str,
    admin: Annotated[str, typer.Option(help="User who becomes the team's admin")],
    description: Annotated[str, typer.Option()] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a team with a first admin member."""
    from dataloft.core.access import SYSTEM

    with _open(data_dir) as loft:
        with _reported():  # one transaction: a bad admin name leaves no admin-less team behind
            loft.accounts.create_team(SYSTEM, name, description, admin=admin)
        console.print(f"created team {name} with admin {admin}")


@team_app.command("add-member")
def team_add_member(
    team: str,
    username: str,
    level: Annotated[str, typer.Option(help="R (read), X (execute), W (write) or A (admin)")] = "R",
    data_dir: DataDir = None,
) -> None:
    """Add a user to a team, or change their level."""
    from dataloft.core.access import SYSTEM

    with _open(data_dir) as loft:
        with _reported():
            member = loft.accounts.set_member(SYSTEM, team, username, level.upper())
        console.print(f"{member.username} is in {member.team} at level {member.level}")


@app.command("gc", rich_help_panel=ADMIN_PANEL)
def collect_garbage(
    grace_hours: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Spare unreferenced blobs touched this recently "
            "[default: $DATALOFT_GC_GRACE_SECONDS, 86400 s = 24 hours]",
        ),
    ] = None,
    scan_store: Annotated[
        bool, typer.Option("--scan-store", help="Also remove stored files with no database row")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Remove nothing; report what would be removed")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Delete blobs that no version of any dataset references, and expired resumable
    uploads with their bytes. Safe while serving; skipped while another process collects."""
    verb = "would remove" if dry_run else "removed"
    with _open(data_dir) as loft, _reported():
        grace = loft.settings.gc_grace_seconds if grace_hours is None else grace_hours * 3600
        collected = loft.garbage.collect(grace, scan_store=scan_store, dry_run=dry_run)
        if collected is None:
            console.print("skipped: another process is collecting garbage now")
            return
        report, uploads = collected.blobs, collected.uploads
        console.print(
            f"{verb} {report.blobs_removed} blobs ({report.bytes_removed} bytes), "
            f"{report.orphan_files_removed} orphan files"
        )
        console.print(
            f"{verb} {uploads.uploads_removed} expired uploads ({uploads.bytes_removed} "
            f"bytes), {uploads.orphan_files_removed} orphan partial files"
        )
