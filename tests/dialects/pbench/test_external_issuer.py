"""Trust in an external OpenID provider (``DATALOFT_OIDC_ISSUER``). The provider here is a
real one over HTTP: the built-in provider of the Pbench test server, which a second
dataloft server, on a database of its own, is told to trust."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dataloft.config import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.dialects.pbench.conftest import ADMIN_NAME, CLIENT, REALM, Pbench
from tests.support import LiveServer, own_server, unique


@pytest.fixture
def trusting(pbench: Pbench, settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    issuer = f"{pbench.url}/realms/{REALM}"
    with own_server(settings, tmp_path, oidc_issuer=issuer) as (live, _):
        yield live


def _keys(server: LiveServer, token: str) -> httpx.Response:
    return httpx.get(
        server.url + "/api/v1/key", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_tokens_of_the_external_issuer_name_users_made_on_first_sight(
    pbench: Pbench, trusting: LiveServer
) -> None:
    endpoints = httpx.get(trusting.url + "/api/v1/endpoints").json()
    assert endpoints["openid"] == {"client": CLIENT, "realm": REALM, "server": pbench.url}
    name = unique("ext")
    pbench.register(name)
    token = pbench.token(name, "123456")
    assert _keys(trusting, token).status_code == 200  # the user exists there now
    made = httpx.post(
        trusting.url + "/api/v1/key/", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert made["username"] == name
    # The key made there is that server's own API token.
    assert _keys(trusting, made["key"]).status_code == 200


def test_the_issuers_admin_role_makes_an_admin(pbench: Pbench, trusting: LiveServer) -> None:
    pbench.register(ADMIN_NAME)
    token = pbench.token(ADMIN_NAME, "123456")
    changed = httpx.put(
        trusting.url + "/api/v1/server/settings/server-indexing",
        json={"value": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.status_code == 200, changed.text


def test_tokens_signed_otherwise_or_for_another_audience_are_no_tokens(
    pbench: Pbench, trusting: LiveServer
) -> None:
    name = unique("ext")
    pbench.register(name)
    genuine = jwt.decode(pbench.token(name, "123456"), options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(pbench.token(name, "123456"))["kid"]
    forged = jwt.encode(genuine, forger, algorithm="RS256", headers={"kid": kid})
    assert _keys(trusting, forged).status_code == 401
    admin_cli = pbench.token(name, "123456", client="admin-cli")  # audience admin-cli
    assert _keys(trusting, admin_cli).status_code == 401
    master = pbench.token("admin", ADMIN_PASSWORD, "master", "admin-cli")  # another issuer
    assert _keys(trusting, master).status_code == 401
