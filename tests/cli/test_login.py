"""``dataloft login`` and ``logout``: the login file (mode 0600) that later commands use
when given no ``--url``/``--token`` and no DATALOFT_URL/DATALOFT_TOKEN."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable

import httpx

from tests.cli.conftest import DATALOFT, TIMEOUT, Cli, read_until
from tests.conftest import User
from tests.support import LiveServer


def logged_out(cli: Cli) -> Cli:
    """The same user's shell without DATALOFT_URL and DATALOFT_TOKEN."""
    env = {k: v for k, v in cli.env.items() if k not in ("DATALOFT_URL", "DATALOFT_TOKEN")}
    return Cli(env, cli.home)


def me(server: LiveServer, token: str) -> httpx.Response:
    return httpx.get(
        server.url + "/loft/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_login_saves_the_token_for_later_commands(
    cli: Cli, server: LiveServer, alice: User, repo: str, commit: Callable[..., int]
) -> None:
    shell = logged_out(cli)
    commit(repo, {"a.txt": b"a"})
    shell.fails("ls", repo, message="no dataloft server")

    ran = shell.run(
        "login", server.url, "-u", alice.username, "--password-stdin", stdin=alice.password + "\n"
    )
    login_file = shell.config / "login.json"
    assert ran.stdout.strip() == (
        f"logged in to {server.url} as {alice.username} (saved in {login_file})"
    )
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    saved = json.loads(login_file.read_text())
    assert saved["url"] == server.url and saved["token"].startswith("dl_")
    assert me(server, saved["token"]).json()["user"]["username"] == alice.username

    assert shell.run("ls", repo).stdout.split()[-1] == "a.txt"  # the saved login
    assert shell.run("cat", f"{repo}/a.txt").stdout == "a"
    # --token (and DATALOFT_TOKEN) win over the saved one: a bad one is refused.
    shell.fails("ls", repo, "--token", "dl_nonsense", message="log in")

    assert shell.run("logout").stdout.strip() == f"logged out of {server.url}"
    assert not login_file.exists()
    assert me(server, saved["token"]).status_code == 401  # revoked on the server
    shell.fails("ls", repo, message="no dataloft server")


def test_login_with_a_token_checks_it(cli: Cli, server: LiveServer, alice: User) -> None:
    shell = logged_out(cli)
    made = shell.json("login", server.url, "--token", alice.token)
    assert made["username"] == alice.username
    login_file = shell.config / "login.json"
    assert made["login_file"] == str(login_file)
    assert json.loads(login_file.read_text()) == {"url": server.url, "token": alice.token}

    login_file.unlink()
    shell.fails("login", server.url, "--token", "dl_nonsense", message="log in")
    assert not login_file.exists()  # nothing saved for a token that does not work
    shell.fails(
        "login", server.url, "-u", alice.username, "--password-stdin", message="no password"
    )
    wrong = shell.process(
        "login", server.url, "-u", alice.username, "--password-stdin", stdin="wrong-password\n"
    )
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: "), wrong.stderr
    assert not login_file.exists()
    for partial in ((), ("-u", alice.username), ("--password-stdin",)):
        shell.fails("login", server.url, *partial, message="no terminal to ask on", status=2)


def test_login_asks_on_a_terminal(cli: Cli, server: LiveServer, alice: User) -> None:
    shell = logged_out(cli)
    leader, follower = os.openpty()
    process = subprocess.Popen(
        [str(DATALOFT), "login", server.url],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**shell.env, "TERM": "xterm"},
        cwd=shell.home,
        start_new_session=True,  # the terminal becomes its controlling one (getpass)
    )
    os.close(follower)
    try:
        assert "Username:" in read_until(leader, "Username:")
        os.write(leader, alice.username.encode() + b"\n")
        assert "Password:" in read_until(leader, "Password:")
        os.write(leader, alice.password.encode() + b"\n")
        rest = read_until(leader, None)
    finally:
        os.close(leader)
        status = process.wait(timeout=TIMEOUT)
    assert status == 0, rest
    assert f"logged in to {server.url} as {alice.username}" in rest
    assert alice.password not in rest  # not echoed
    assert json.loads((shell.config / "login.json").read_text())["url"] == server.url
