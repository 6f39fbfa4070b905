"""Fixtures of the data client's tests: the real ``dataloft`` program, run as a process of
its own against the session's live server (both databases), as alice, with a
configuration and a cache directory of the test's own (the login file, the local index).

Effects are checked over the native API (alice's ``httpx`` client), never through the
command under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import User
from tests.support import LiveServer, unique

DATALOFT = Path(sys.executable).parent / "dataloft"
TIMEOUT = 120

Ran = subprocess.CompletedProcess[str]


def plain_env(**extra: str) -> dict[str, str]:
    """This process's environment without any DATALOFT_* variable, with plain, wide
    output (no colours, no terminal tricks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATALOFT_")}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("XDG_CONFIG_HOME", None)
    env.update(COLUMNS="200", TERM="dumb", NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class Cli:
    """``dataloft`` as a user runs it: ``run`` expects success, ``fails`` an error."""

    env: dict[str, str]
    home: Path
    calls: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def cache(self) -> Path:
        return Path(self.env["XDG_CACHE_HOME"])

    @property
    def config(self) -> Path:
        return Path(self.env["DATALOFT_CONFIG_DIR"])

    def process(self, *args: str, stdin: str | None = None, **env: str) -> Ran:
        self.calls.append(args)
        return subprocess.run(
            [str(DATALOFT), *args],
            env={**self.env, **env},
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            cwd=self.home,
        )

    def stdout_bytes(self, *args: str) -> bytes:
        """What a successful run writes to stdout, as bytes."""
        self.calls.append(args)
        result = subprocess.run(
            [str(DATALOFT), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
            cwd=self.home,
        )
        assert result.returncode == 0, f"{args}: {result.stderr!r}"
        return result.stdout

    def run(self, *args: str, stdin: str | None = None, **env: str) -> Ran:
        result = self.process(*args, stdin=stdin, **env)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def json(self, *args: str, **env: str) -> Any:
        """The command's ``--json`` output, parsed."""
        return json.loads(self.run(*args, "--json", **env).stdout)

    def fails(self, *args: str, message: str, status: int = 1, **env: str) -> Ran:
        """The command exits with ``status`` (1: an error; 2: bad usage); an error is one
        line ``error: <message...>`` on stderr, never a traceback."""
        result = self.process(*args, **env)
        assert result.returncode == status, f"{args}: {result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        if status == 1:  # the last line, after any progress
            lines = result.stderr.strip().splitlines()
            assert lines[-1].startswith("error: "), result.stderr
            assert sum(line.startswith("error:") for line in lines) == 1, result.stderr
        assert message in result.stderr, result.stderr
        return result


@pytest.fixture
def cli(server: LiveServer, alice: User, tmp_path: Path) -> Cli:
    """``dataloft`` as alice: the server and her token in DATALOFT_URL / DATALOFT_TOKEN."""
    home = tmp_path / "home"
    home.mkdir()
    env = plain_env(
        HOME=str(home),
        DATALOFT_CONFIG_DIR=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        DATALOFT_URL=server.url,
        DATALOFT_TOKEN=alice.token,
    )
    return Cli(env, home)


@pytest.fixture
def repo(alice: User) -> str:
    """A name for a dataset of alice's that does not exist yet (push makes it)."""
    return f"{alice.username}/{unique('cli')}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Files at their paths under ``root`` (folders made as needed)."""
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def head_files(alice: User, repo: str, version: int | None = None) -> dict[str, dict[str, Any]]:
    """The entries of a version of alice's dataset (default: the head), by path, over the
    native API."""
    params: dict[str, Any] = {"limit": 1000}
    if version is not None:
        params["version"] = version
    entries: dict[str, dict[str, Any]] = {}
    while True:
        page = alice.client.get(f"/datasets/{repo}/files", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        entries.update({item["path"]: item for item in body["items"]})
        if body["next_cursor"] is None:
            return entries
        params["cursor"] = body["next_cursor"]


def versions(alice: User, repo: str) -> list[dict[str, Any]]:
    """The dataset's versions, newest first (one page is enough for these tests)."""
    page = alice.client.get(f"/datasets/{repo}/versions", params={"limit": 1000})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def diff(alice: User, repo: str, start: int, end: int) -> set[tuple[str, str]]:
    """(change, path) of each item of the diff between two versions."""
    page = alice.client.get(
        f"/datasets/{repo}/diff", params={"from": start, "to": end, "limit": 1000}
    )
    assert page.status_code == 200, page.text
    return {(item["change"], item["path"]) for item in page.json()["items"]}


@pytest.fixture
def commit(alice: User) -> Iterator[Callable[..., int]]:
    """Commit files (bytes) and symlinks (str targets) to a dataset of alice's over the
    native API, creating it first if needed; the version made."""

    def make(repo: str, files: dict[str, bytes | str], message: str = "") -> int:
        name = repo.split("/", 1)[1]
        made = alice.client.post("/datasets", json={"name": name})
        assert made.status_code in (201, 409), made.text
        changes: list[dict[str, Any]] = []
        for path, content in files.items():
            if isinstance(content, str):
                changes.append({"op": "put_symlink", "path": path, "target": content})
                continue
            put = alice.client.put(f"/blobs/{sha(content)}", content=content)
            assert put.status_code in (200, 201), put.text
            changes.append({"op": "put_file", "path": path, "sha256": sha(content)})
        done = alice.client.post(
            f"/datasets/{repo}/commits", json={"changes": changes, "message": message}
        )
        assert done.status_code == 201, done.text
        number: int = done.json()["version"]["number"]
        return number

    yield make


def read_until(leader: int, wanted: str | None) -> str:
    """What the terminal shows until ``wanted`` appears (``None``: until it closes)."""
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while wanted is None or wanted.encode() not in seen:
        ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"waited for {wanted!r}; the terminal shows {seen!r}")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process has closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")
