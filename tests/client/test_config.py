"""Where a client finds its server and token: arguments, then the environment, then the
login file (written 0600, and its token sent only to its own server)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dataloft_client import Client, config, load_login, remove_login, save_login


def test_arguments_win_over_the_environment_which_wins_over_the_login_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_login("http://saved:1", "dl_saved")
    with Client() as client:
        assert (client.base_url, client.token) == ("http://saved:1", "dl_saved")

    monkeypatch.setenv("DATALOFT_URL", "http://env:2")
    monkeypatch.setenv("DATALOFT_TOKEN", "dl_env")
    with Client() as client:
        assert (client.base_url, client.token) == ("http://env:2", "dl_env")
    with Client("http://arg:3", "dl_arg") as client:
        assert (client.base_url, client.token) == ("http://arg:3", "dl_arg")

    monkeypatch.delenv("DATALOFT_TOKEN")
    with Client() as client:  # the saved token belongs to another server: not sent here
        assert (client.base_url, client.token) == ("http://env:2", None)
    monkeypatch.delenv("DATALOFT_URL")
    with Client("http://saved:1/") as client:  # the same server, written otherwise
        assert client.token == "dl_saved"
    with Client(token="") as client:  # explicitly anonymous
        assert client.token == ""


def test_the_login_file_is_private_and_found_where_the_environment_says(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_login("http://h:8080", "dl_secret")
    assert path == config_dir / "login.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert load_login() == config.Login("http://h:8080", "dl_secret")
    save_login("http://h:8080", "dl_newer")  # replaced, still private
    assert load_login() == config.Login("http://h:8080", "dl_newer")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert remove_login() and load_login() is None and not remove_login()

    monkeypatch.delenv("DATALOFT_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.config_dir() == tmp_path / "xdg" / "dataloft"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.config_dir() == tmp_path / "home" / ".config" / "dataloft"


def test_no_server_anywhere_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="DATALOFT_URL"):
        Client()


def test_a_broken_login_file_counts_as_none(config_dir: Path) -> None:
    config_dir.mkdir()
    (config_dir / "login.json").write_text("{not json")
    assert load_login() is None
    (config_dir / "login.json").write_text('{"url": 1, "token": "x"}')
    assert load_login() is None
