"""Fixtures for the Pbench dialect and the built-in OpenID Connect provider: a server of
their own, fresh like the one Pbench's functional tests expect (they assert exact sets of
datasets), with the settings pbench-in-a-can uses (6-character passwords, ``testadmin`` an
admin), and raw HTTP clients that log in and send what Pbench's ``pbench.client`` sends.

The client is not on PyPI; what it sends was read from its source and checked against a
dev server with Pbench's own functional tests (docs/pbench.md, "Testing").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dataloft.config import Settings
from dataloft.core.loft import Loft
from tests.conftest import ADMIN_PASSWORD
from tests.support import LiveServer, own_server, unique

REALM, CLIENT = "pbench-server", "pbench-client"
ADMIN_NAME = "testadmin"


@dataclass
class Pbench:
    live: LiveServer
    loft: Loft

    @property
    def url(self) -> str:
        return self.live.url

    def token(self, username: str, password: str, realm: str = REALM, client: str = CLIENT) -> str:
        answer = password_grant(self.url, username, password, realm, client)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def admin_token(self) -> str:
        """What Pbench's ``OIDCAdmin`` gets: a master-realm token for ``admin-cli``."""
        return self.token("admin", ADMIN_PASSWORD, "master", "admin-cli")

    def native_admin(self) -> dict[str, str]:
        """Headers of the admin, for the native API (which takes dataloft API tokens)."""
        answer = httpx.post(
            self.url + "/loft/v1/auth/token",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def register(self, username: str, password: str = "123456") -> httpx.Response:
        """``OIDCAdmin.create_new_user``, as the functional tests call it."""
        return httpx.post(
            f"{self.url}/admin/realms/{REALM}/users",
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            json={
                "username": username,
                "email": f"{username}@example.com",
                "emailVerified": True,
                "enabled": True,
                "firstName": "Test",
                "lastName": "User",
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )

    def user(self, username: str | None = None, password: str = "123456") -> httpx.Client:
        """A new user, logged in with an OpenID token, as ``PbenchServerClient.login``."""
        name = username or unique("pb")
        made = self.register(name, password)
        assert made.status_code in (201, 409), made.text
        headers = {"Authorization": f"Bearer {self.token(name, password)}"}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=60)

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", timeout=60)


def password_grant(
    url: str, username: str, password: str, realm: str = REALM, client: str = CLIENT
) -> httpx.Response:
    return httpx.post(
        f"{url}/realms/{realm}/protocol/openid-connect/token",
        data={
            "client_id": client,
            "grant_type": "password",
            "scope": "profile email",
            "username": username,
            "password": password,
        },
    )


@dataclass
class Owner:
    """A user of a test module, logged in: ``client`` is at ``/api/v1``."""

    username: str
    client: httpx.Client


@pytest.fixture(scope="module")
def owner(pbench: Pbench) -> Iterator[Owner]:
    username = unique("owner")
    with pbench.user(username) as client:
        yield Owner(username, client)


@pytest.fixture(scope="session")
def pbench(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbench]:
    directory: Path = tmp_path_factory.mktemp("pbench")
    with own_server(settings, directory, min_password_length=6, admin_users=(ADMIN_NAME,)) as (
        live,
        loft,
    ):
        loft.bootstrap_admin()
        yield Pbench(live, loft)
