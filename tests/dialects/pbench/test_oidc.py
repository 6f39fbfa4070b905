"""The built-in OpenID Connect provider, as Pbench's clients and functional tests use it:
Keycloak's token endpoint (password and refresh grants), its admin API for making users,
and the public keys anyone checks the tokens with."""

from __future__ import annotations

import httpx
import jwt
import pytest

from dataloft.core.loft import Loft
from tests.conftest import ADMIN_PASSWORD
from tests.dialects.pbench.conftest import ADMIN_NAME, CLIENT, REALM, Pbench, password_grant
from tests.support import unique


def test_a_password_grant_gives_rs256_tokens_that_the_published_keys_verify(
    pbench: Pbench,
) -> None:
    name = unique("oidc")
    assert pbench.register(name).status_code == 201
    answer = password_grant(pbench.url, name, "123456")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["refresh_expires_in"] == 1800 and body["refresh_token"]
    keys = httpx.get(f"{pbench.url}/realms/{REALM}/protocol/openid-connect/certs").json()
    (key,) = keys["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    header = jwt.get_unverified_header(body["access_token"])
    assert header == {"alg": "RS256", "kid": key["kid"], "typ": "JWT"}
    claims = jwt.decode(
        body["access_token"], jwt.PyJWK(key).key, algorithms=["RS256"], audience=CLIENT
    )
    assert claims["iss"] == f"{pbench.url}/realms/{REALM}"
    assert claims["preferred_username"] == name and claims["azp"] == CLIENT
    assert claims["resource_access"] == {CLIENT: {"roles": []}}
    assert claims["exp"] - claims["iat"] == 300


def test_the_configured_admin_gets_the_admin_role(pbench: Pbench) -> None:
    assert pbench.register(ADMIN_NAME).status_code in (201, 409)
    claims = jwt.decode(pbench.token(ADMIN_NAME, "123456"), options={"verify_signature": False})
    assert claims["resource_access"] == {CLIENT: {"roles": ["ADMIN"]}}


def test_token_errors_have_keycloaks_codes_and_statuses(pbench: Pbench) -> None:
    name = unique("oidc")
    pbench.register(name)
    token = f"{pbench.url}/realms/{REALM}/protocol/openid-connect/token"
    cases = [
        (password_grant(pbench.url, name, "wrong-pw"), 401, "invalid_grant"),
        (password_grant(pbench.url, name, "123456", client="nobody"), 401, "invalid_client"),
        (password_grant(pbench.url, name, "123456", "master", CLIENT), 401, "invalid_client"),
        (httpx.post(token, data={"client_id": CLIENT}), 400, "invalid_request"),
        (
            httpx.post(token, data={"client_id": CLIENT, "grant_type": "x"}),
            400,
            "unsupported_grant_type",
        ),
        (httpx.post(token, json={"grant_type": "password"}), 400, "invalid_request"),
    ]
    for answer, status, error in cases:
        assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text
        assert answer.json()["error_description"]
    unknown = password_grant(pbench.url, name, "123456", realm="nowhere")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Realm does not exist"})


def test_a_refresh_token_buys_new_tokens_for_its_own_client_only(pbench: Pbench) -> None:
    name = unique("oidc")
    pbench.register(name)
    refresh = password_grant(pbench.url, name, "123456").json()["refresh_token"]
    token = f"{pbench.url}/realms/{REALM}/protocol/openid-connect/token"
    grant = {"grant_type": "refresh_token", "refresh_token": refresh}
    again = httpx.post(token, data={**grant, "client_id": CLIENT})
    assert again.status_code == 200, again.text
    assert (
        httpx.get(
            f"{pbench.url}/api/v1/key",
            headers={"Authorization": f"Bearer {again.json()['access_token']}"},
        ).status_code
        == 200
    )
    other = httpx.post(token, data={**grant, "client_id": "admin-cli"})
    assert (other.status_code, other.json()["error"]) == (400, "invalid_grant")
    access = again.json()["access_token"]  # an access token is no refresh token
    wrong = httpx.post(token, data={**grant, "refresh_token": access, "client_id": CLIENT})
    assert wrong.status_code == 400


def test_making_a_user_takes_an_admin_and_a_taken_name_is_a_409_that_changes_nothing(
    pbench: Pbench,
) -> None:
    name = unique("oidc")
    made = pbench.register(name, "first-pw")
    assert made.status_code == 201 and made.content == b""
    assert made.headers["location"].startswith(f"{pbench.url}/admin/realms/{REALM}/users/")
    again = pbench.register(name, "second-pw")
    assert again.status_code == 409
    assert again.json() == {"errorMessage": "User exists with same username"}
    assert password_grant(pbench.url, name, "first-pw").status_code == 200
    assert password_grant(pbench.url, name, "second-pw").status_code == 401
    users = f"{pbench.url}/admin/realms/{REALM}/users"
    body = {"username": unique("x"), "credentials": [{"type": "password", "value": "123456"}]}
    anonymous = httpx.post(users, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "HTTP 401 Unauthorized"
    plain = {"Authorization": f"Bearer {pbench.token(name, 'first-pw')}"}
    assert httpx.post(users, json=body, headers=plain).status_code == 403
    found = httpx.get(
        users,
        params={"username": name},
        headers={"Authorization": f"Bearer {pbench.admin_token()}"},
    )
    assert [u["username"] for u in found.json()] == [name]


def test_passwords_of_the_configured_minimum_length_work_everywhere(pbench: Pbench) -> None:
    """The suite's users have 6-character passwords (DATALOFT_MIN_PASSWORD_LENGTH=6 here):
    accepted by the OpenID admin API and by the native API alike; 5 are refused by both."""
    assert pbench.register(unique("six"), "123456").status_code == 201
    short = pbench.register(unique("five"), "12345")
    assert short.status_code == 400
    assert short.json() == {"errorMessage": "password must be 6-1024 characters long"}
    admin = pbench.native_admin()
    native = f"{pbench.url}/loft/v1/users"
    assert (
        httpx.post(
            native, json={"username": unique("n"), "password": "123456"}, headers=admin
        ).status_code
        == 201
    )
    assert (
        httpx.post(
            native, json={"username": unique("n"), "password": "12345"}, headers=admin
        ).status_code
        == 400
    )


def test_a_changed_password_ends_the_tokens_issued_before(pbench: Pbench) -> None:
    name = unique("oidc")
    pbench.register(name, "old-pw")
    token = pbench.token(name, "old-pw")
    keys = f"{pbench.url}/api/v1/key"
    assert httpx.get(keys, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    admin = pbench.native_admin()
    changed = httpx.patch(
        f"{pbench.url}/loft/v1/users/{name}", json={"password": "new-pw"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    # Pbench's rule: a token that no longer holds is no token (anonymous, then a 401).
    after = httpx.get(keys, headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401


def test_the_signing_key_survives_a_restart(pbench: Pbench) -> None:
    """Another process on the same database (a restart, a second worker) verifies a
    token issued before, with the key it reads from the database."""
    name = unique("oidc")
    pbench.register(name)
    token = pbench.token(name, "123456")
    with Loft(pbench.loft.settings) as other:
        assert other.oidc.authenticate(token).username == name
        assert other.oidc.jwks() == pbench.loft.oidc.jwks()


def test_discovery_realm_document_and_userinfo(pbench: Pbench) -> None:
    base = f"{pbench.url}/realms/{REALM}"
    found = httpx.get(base + "/.well-known/openid-configuration").json()
    assert found["issuer"] == base
    assert found["token_endpoint"] == base + "/protocol/openid-connect/token"
    assert found["jwks_uri"] == base + "/protocol/openid-connect/certs"
    assert httpx.get(found["jwks_uri"]).status_code == 200
    realm = httpx.get(base).json()
    assert realm["realm"] == REALM and realm["token-service"] == base + "/protocol/openid-connect"
    name = unique("oidc")
    pbench.register(name)
    headers = {"Authorization": f"Bearer {pbench.token(name, '123456')}"}
    info = httpx.get(base + "/protocol/openid-connect/userinfo", headers=headers).json()
    assert info["preferred_username"] == name and info["email"] == f"{name}@example.com"
    assert httpx.get(base + "/protocol/openid-connect/userinfo").status_code == 401


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "Basic abc"])
def test_bad_bearer_tokens_are_refused_by_the_admin_api(pbench: Pbench, garbage: str) -> None:
    users = f"{pbench.url}/admin/realms/{REALM}/users"
    header = garbage if garbage.startswith("Basic") else f"Bearer {garbage}"
    answer = httpx.post(users, json={"username": "x"}, headers={"Authorization": header})
    assert answer.status_code == 401


def test_the_master_realm_gives_admin_cli_tokens(pbench: Pbench) -> None:
    answer = password_grant(pbench.url, "admin", ADMIN_PASSWORD, "master", "admin-cli")
    assert answer.status_code == 200
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["iss"] == f"{pbench.url}/realms/master"
