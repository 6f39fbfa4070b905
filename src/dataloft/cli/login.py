"""``dataloft login`` and ``dataloft logout``: the server and token the data client's
commands use when none is given.

``login`` takes a token (``--token``) or makes one from a username and password
(``POST /auth/token``, a token that expires after 30 days), checks it (``GET /me``), and
saves the server's URL and the token with the SDK's ``save_login``: a file readable by
its owner only (mode 0600), which every later command (and ``dataloft_client.Client``)
reads when given no ``--url``/``--token`` and no ``DATALOFT_URL``/``DATALOFT_TOKEN``.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from typing import Annotated

import typer

from dataloft.cli.app import CLIENT_PANEL, app
from dataloft.cli.connect import TokenOption, connect, reported
from dataloft.cli.output import JsonOption, fail, line, print_json, usage_error
from dataloft_client import Client
from dataloft_client.config import load_login, remove_login, save_login

DEFAULT_URL = "http://127.0.0.1:8080"  # where `dataloft serve` listens by default


@app.command(rich_help_panel=CLIENT_PANEL)
def login(
    server: Annotated[
        str | None,
        typer.Argument(
            metavar="[URL]",
            help=f"The server [default: $DATALOFT_URL, the saved login's, or {DEFAULT_URL}]",
            show_default=False,
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Log in as this user")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from stdin (one line)"),
    ] = False,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Log in to a server and remember it: later commands use its URL and token."""
    if token is not None and (username is not None or password_stdin):
        usage_error("--token replaces --username and --password-stdin")
    saved = load_login()
    url = server or os.environ.get("DATALOFT_URL") or (saved.url if saved else DEFAULT_URL)
    url = url.rstrip("/")
    if token is None:
        if not sys.stdin.isatty() and (username is None or not password_stdin):
            usage_error("no terminal to ask on: give --username and --password-stdin, or --token")
        user = username or typer.prompt("Username")
        password = _password(password_stdin)
        with reported(), Client(url, "") as anonymous:
            token = anonymous.login(
                user, password, name=f"dataloft-cli@{socket.gethostname()}"
            ).token
    with connect(url, token) as client:
        me = client.whoami()
    with reported():
        where = save_login(url, token)
    if as_json:
        print_json({"url": url, "username": me.user.username, "login_file": str(where)})
    else:
        line(f"logged in to {url} as {me.user.username} (saved in {where})")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on stdin")
        return password
    return getpass.getpass("Password: ")


@app.command(rich_help_panel=CLIENT_PANEL)
def logout(
    revoke: Annotated[bool, typer.Option(help="Also revoke the saved token on its server")] = True,
) -> None:
    """Forget the saved login (and revoke its token on the server)."""
    saved = load_login()
    if saved is None:
        line("not logged in")
        return
    if revoke:
        with connect(saved.url, saved.token) as client:
            mine = [t for t in client.list_tokens() if saved.token.startswith(t.prefix)]
            for made in mine:
                client.revoke_token(made.id)
    remove_login()
    line(f"logged out of {saved.url}")
