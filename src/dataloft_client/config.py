"""Where a client finds its server and token, and the login file ``dataloft login`` writes.

Resolution, first match wins:

1. the arguments (``Client(base_url, token)``);
2. the environment: ``DATALOFT_URL``, ``DATALOFT_TOKEN``;
3. the login file ``login.json`` in the configuration directory: ``$DATALOFT_CONFIG_DIR``,
   else ``$XDG_CONFIG_HOME/dataloft``, else ``~/.config/dataloft``.

The login file's token is used only with the login file's own server: a client pointed
at another server (by argument or environment) never sends it there. The file is written
with mode 0600 in a directory of mode 0700, replaced atomically (written beside it, then
renamed), so a reader sees the old login or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOGIN_FILE = "login.json"


@dataclass(frozen=True)
class Login:
    url: str
    token: str


def config_dir() -> Path:
    """The configuration directory (it may not exist yet)."""
    named = os.environ.get("DATALOFT_CONFIG_DIR")
    if named:
        return Path(named)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "dataloft"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_login(url: str, token: str, directory: Path | None = None) -> Path:
    """Remember ``url`` and ``token`` for later clients; the file's path."""
    path = (directory or config_dir()) / LOGIN_FILE
    write_private(path, json.dumps({"url": url, "token": token}, indent=2) + "\n")
    return path


def load_login(directory: Path | None = None) -> Login | None:
    """The saved login, or None if there is none (or it is not one)."""
    path = (directory or config_dir()) / LOGIN_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    if not isinstance(saved, dict):
        return None
    url, token = saved.get("url"), saved.get("token")
    if not isinstance(url, str) or not isinstance(token, str):
        return None
    return Login(url, token)


def remove_login(directory: Path | None = None) -> bool:
    """Forget the saved login (``dataloft logout``); whether there was one."""
    path = (directory or config_dir()) / LOGIN_FILE
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _same_server(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def resolve(
    base_url: str | None, token: str | None, directory: Path | None = None
) -> tuple[str, str | None]:
    """The server URL and token a client uses, as the module docstring says."""
    url = base_url or os.environ.get("DATALOFT_URL") or None
    if token is None:
        token = os.environ.get("DATALOFT_TOKEN") or None
    if url is None or token is None:
        saved = load_login(directory)
        if saved is not None:
            if url is None:
                url = saved.url
            if token is None and _same_server(url, saved.url):
                token = saved.token
    if url is None:
        raise ValueError(
            "no dataloft server: pass base_url, set DATALOFT_URL, or run 'dataloft login'"
        )
    return url, token
