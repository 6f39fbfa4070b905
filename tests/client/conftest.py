"""Fixtures of the SDK's tests: clients of the session's live server for the test users,
and a configuration directory of each test's own (the login and resume files go there,
never to the home directory), with no DATALOFT_URL or DATALOFT_TOKEN from outside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataloft_client import Client
from tests.conftest import User
from tests.support import LiveServer, unique


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("DATALOFT_CONFIG_DIR", str(directory))
    monkeypatch.delenv("DATALOFT_URL", raising=False)
    monkeypatch.delenv("DATALOFT_TOKEN", raising=False)
    return directory


@pytest.fixture
def sdk(server: LiveServer, alice: User) -> Iterator[Client]:
    """Alice's client."""
    with Client(server.url, alice.token) as client:
        yield client


@pytest.fixture
def repo(sdk: Client) -> str:
    """A fresh private dataset of alice's, as ``owner/name``."""
    return sdk.create_dataset(unique("sdk")).repo
