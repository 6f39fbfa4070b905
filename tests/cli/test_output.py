"""How the data client shows its work: rich progress bars on a terminal (a real pseudo
terminal here), plain lines anywhere else, JSON for scripts; and how little it loads to
start (the server's code is not among it)."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import termios
from pathlib import Path

from tests.cli.conftest import DATALOFT, TIMEOUT, Cli, plain_env, read_until, write_tree

FILES = {f"f{n}.bin": os.urandom(300_000) for n in range(6)}


def run_on_terminal(cli: Cli, *args: str) -> str:
    """Run ``dataloft`` with its stdout and stderr on a pseudo terminal of 120 columns;
    all it wrote there."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in cli.env.items() if k not in ("NO_COLOR", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [str(DATALOFT), *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=cli.home,
    )
    os.close(follower)
    try:
        shown = read_until(leader, None)
    finally:
        os.close(leader)
        status = process.wait(timeout=TIMEOUT)
    assert status == 0, shown
    return shown


def test_a_terminal_shows_progress_bars(cli: Cli, repo: str, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", FILES)
    shown = run_on_terminal(cli, "push", str(root), repo)
    assert "━" in shown  # rich's bar
    assert "ETA" in shown and "hashed" in shown and "uploaded" in shown
    assert "6/6 files" in shown
    assert "1.8/1.8 MB" in shown  # bytes done of all
    pulled = run_on_terminal(cli, "pull", repo, str(tmp_path / "copy"))
    assert "━" in pulled and "downloaded" in pulled


def test_elsewhere_progress_is_plain_lines(cli: Cli, repo: str, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", FILES)
    ran = cli.run("push", str(root), repo)
    assert "━" not in ran.stderr and "\x1b" not in ran.stderr
    lines = ran.stderr.splitlines()
    assert lines[-1].startswith("uploaded 1.8 MB in 6 files in "), lines
    assert any(line.startswith("uploading: 50% (") for line in lines), lines
    assert any(line.startswith("hashed 1.8 MB in 6 files") for line in lines), lines
    assert len(lines) <= 25  # a line per tenth of each phase, not one per file
    # --json: one document on stdout, progress stays on stderr.
    (root / "f0.bin").write_bytes(b"changed")
    report = json.loads(cli.run("push", str(root), repo, "--json").stdout)
    assert (report["changed"], report["uploaded"], report["uploaded_bytes"]) == (1, 1, 7)


def imported(*args: str, env: dict[str, str]) -> set[str]:
    """Every module a run of ``dataloft`` imported (Python's own -X importtime report)."""
    result = subprocess.run(
        [str(DATALOFT), *args],
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


SERVER_PACKAGES = ("sqlalchemy", "fastapi", "starlette", "uvicorn", "alembic", "psycopg")
SERVER_MODULES = ("dataloft.core", "dataloft.db", "dataloft.api", "dataloft.config")


def server_code(modules: set[str]) -> set[str]:
    return {
        module
        for module in modules
        if module.split(".")[0] in SERVER_PACKAGES or module.startswith(SERVER_MODULES)
    }


def test_the_data_client_starts_without_the_server(tmp_path: Path) -> None:
    env = plain_env(HOME=str(tmp_path))
    client = imported("push", "--help", env=env)
    assert {"dataloft.cli.push", "dataloft_client", "httpx"} <= client  # the report is read
    assert server_code(client) == set()
    # An operator command loads the server when it runs (so the check above can fail).
    operator = imported("db", "upgrade", "--data-dir", str(tmp_path / "data"), env=env)
    assert {"sqlalchemy", "dataloft.core.loft"} <= server_code(operator)
