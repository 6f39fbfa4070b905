"""Login, Bearer authentication and API tokens over HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import extract_parameters
from sqlalchemy import select, update

from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from dataloft.core.passwords import Passwords
from dataloft.db.models import User as UserRow
from tests.conftest import User
from tests.support import Clock, LiveServer, unique

BEARER_CHALLENGE = 'Bearer realm="dataloft"'


@pytest.fixture
def connect(server: LiveServer) -> Iterator[Callable[..., httpx.Client]]:
    """Clients with an arbitrary Authorization header (or none)."""
    clients: list[httpx.Client] = []

    def factory(authorization: str | None = None) -> httpx.Client:
        headers = {"Authorization": authorization} if authorization is not None else {}
        client = httpx.Client(base_url=server.url + "/loft/v1", headers=headers, timeout=30)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def bearer(connect: Callable[..., httpx.Client], token: str) -> httpx.Client:
    return connect(f"Bearer {token}")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if status == 401:
        assert response.headers["www-authenticate"] == BEARER_CHALLENGE
    error: dict[str, Any] = body["error"]
    return error


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"{value!r} has no timezone"
    return parsed


# --- login ------------------------------------------------------------------------------------


def test_login_returns_a_token_that_works_on_me(
    anon: httpx.Client, alice: User, connect: Callable[..., httpx.Client]
) -> None:
    before = datetime.now(UTC)
    response = anon.post(
        "/auth/token", json={"username": alice.username, "password": alice.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "id", "name", "scope", "expires_at"}
    assert body["token"].startswith("dl_")
    assert body["token"] != alice.token
    assert body["name"] == "login"
    assert body["scope"] is None
    expires = parse_time(body["expires_at"])
    assert before + timedelta(days=30) - timedelta(minutes=1) <= expires
    assert expires <= datetime.now(UTC) + timedelta(days=30) + timedelta(minutes=1)

    me = bearer(connect, body["token"]).get("/me")
    assert me.status_code == 200, me.text
    assert me.json()["user"]["username"] == alice.username
    assert me.json()["user"]["is_active"] is True
    assert me.json()["user"]["is_admin"] is False
    assert me.json()["teams"] == {}


def test_login_token_name_is_kept(anon: httpx.Client, alice: User) -> None:
    response = anon.post(
        "/auth/token",
        json={"username": alice.username, "password": alice.password, "name": "laptop"},
    )
    assert response.status_code == 200, response.text
    token_id = response.json()["id"]
    listed = {t["id"]: t for t in alice.client.get("/tokens").json()}
    assert listed[token_id]["name"] == "laptop"
    assert listed[token_id]["prefix"] == response.json()["token"][:9]


def test_me_lists_teams_with_levels(alice: User, bob: User) -> None:
    own, joined = unique("team"), unique("team")
    assert alice.client.post("/teams", json={"name": own}).status_code == 201
    assert bob.client.post("/teams", json={"name": joined}).status_code == 201
    added = bob.client.put(f"/teams/{joined}/members/{alice.username}", json={"level": "W"})
    assert added.status_code == 200, added.text

    me = alice.client.get("/me")
    assert me.status_code == 200, me.text
    assert me.json()["teams"] == {own: "A", joined: "W"}
    assert me.json()["user"]["username"] == alice.username


def test_admin_me_shows_only_own_teams(admin: User, alice: User) -> None:
    team = unique("team")
    assert alice.client.post("/teams", json={"name": team}).status_code == 201
    me = admin.client.get("/me")
    assert me.status_code == 200, me.text
    assert me.json()["user"]["is_admin"] is True
    assert team not in me.json()["teams"]


def test_login_wrong_password_is_401(anon: httpx.Client, alice: User) -> None:
    response = anon.post(
        "/auth/token", json={"username": alice.username, "password": alice.password + "x"}
    )
    assert_error(response, 401, "unauthenticated")


def test_login_unknown_user_is_401(anon: httpx.Client) -> None:
    response = anon.post(
        "/auth/token", json={"username": unique("nobody"), "password": "password-1234"}
    )
    assert_error(response, 401, "unauthenticated")


def test_login_unknown_user_and_wrong_password_look_the_same(
    anon: httpx.Client, alice: User
) -> None:
    unknown = anon.post("/auth/token", json={"username": unique("nobody"), "password": "pw123456"})
    wrong = anon.post("/auth/token", json={"username": alice.username, "password": "pw123456"})
    assert assert_error(unknown, 401, "unauthenticated") == assert_error(
        wrong, 401, "unauthenticated"
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "someone"},
        {"password": "password-1234"},
        {"username": "someone", "password": "password-1234", "surprise": 1},
        {"username": None, "password": "password-1234"},
    ],
)
def test_login_malformed_body_is_400(anon: httpx.Client, body: dict[str, Any]) -> None:
    assert_error(anon.post("/auth/token", json=body), 400, "invalid")


def test_login_without_json_body_is_400(anon: httpx.Client) -> None:
    assert_error(anon.post("/auth/token", content=b"not json"), 400, "invalid")


def test_user_without_password_cannot_log_in(anon: httpx.Client, loft: Loft) -> None:
    username = unique("nopw")
    loft.accounts.create_user(SYSTEM, username, None)
    # The verifier falls back to a dummy hash for such users; its password must not work.
    for password in ("not a real password", "", "password-1234"):
        response = anon.post("/auth/token", json={"username": username, "password": password})
        assert_error(response, 401, "unauthenticated")


def stored_hash(loft: Loft, username: str) -> str:
    with loft.db.read() as session:
        found = session.scalar(select(UserRow.password_hash).where(UserRow.username == username))
    assert found is not None
    return found


def test_a_hash_of_other_cost_verifies_and_is_upgraded_at_login(
    anon: httpx.Client, loft: Loft, alice: User
) -> None:
    """Changing DATALOFT_PASSWORD_HASH_* locks nobody out: a hash made with other parameters
    still verifies, and the next login re-makes it with the server's."""
    older = Passwords(memory_kib=16, passes=2).hash(alice.password)
    with loft.db.write() as session:
        session.execute(
            update(UserRow).where(UserRow.username == alice.username).values(password_hash=older)
        )
    login = {"username": alice.username, "password": alice.password}

    wrong = anon.post("/auth/token", json={**login, "password": "wrong-password"})
    assert_error(wrong, 401, "unauthenticated")
    assert stored_hash(loft, alice.username) == older  # only a good password upgrades

    assert anon.post("/auth/token", json=login).status_code == 200
    upgraded = stored_hash(loft, alice.username)
    assert upgraded != older
    params = extract_parameters(upgraded)
    cost = (params.memory_cost, params.time_cost)
    assert cost == (loft.settings.password_hash_memory_kib, loft.settings.password_hash_passes)
    assert not loft.passwords.needs_rehash(upgraded)
    assert anon.post("/auth/token", json=login).status_code == 200
    assert stored_hash(loft, alice.username) == upgraded  # nothing more to upgrade


def test_deactivated_user_cannot_log_in(anon: httpx.Client, admin: User, alice: User) -> None:
    login = {"username": alice.username, "password": alice.password}
    assert anon.post("/auth/token", json=login).status_code == 200
    deactivated = admin.client.delete(f"/users/{alice.username}")
    assert deactivated.status_code == 200, deactivated.text
    error = assert_error(anon.post("/auth/token", json=login), 401, "unauthenticated")
    assert "deactivated" in error["message"]
    assert_error(alice.client.get("/me"), 401, "unauthenticated")


# --- bearer handling --------------------------------------------------------------------------


def test_me_anonymous_is_401_with_challenge(anon: httpx.Client) -> None:
    assert_error(anon.get("/me"), 401, "unauthenticated")


def test_anonymous_may_list_datasets(anon: httpx.Client) -> None:
    response = anon.get("/datasets")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/datasets", "/me", "/tokens", "/teams"])
def test_garbage_token_is_401_everywhere(connect: Callable[..., httpx.Client], path: str) -> None:
    client = connect("Bearer dl_thisisnotatoken")
    error = assert_error(client.get(path), 401, "unauthenticated")
    assert "token" in error["message"]


def test_garbage_token_is_401_on_licences(connect: Callable[..., httpx.Client]) -> None:
    """GET /licences is open to anonymous callers, like GET /datasets: a bad token should
    still be refused there so that clients notice it (deps.get_principal's rule)."""
    client = connect("Bearer dl_thisisnotatoken")
    assert_error(client.get("/licences"), 401, "unauthenticated")


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Bearer:", "Digest"])
def test_non_bearer_scheme_is_401(
    connect: Callable[..., httpx.Client], alice: User, scheme: str
) -> None:
    client = connect(f"{scheme} {alice.token}")
    assert_error(client.get("/me"), 401, "unauthenticated")
    assert_error(client.get("/datasets"), 401, "unauthenticated")


def test_bearer_without_credentials_is_401(connect: Callable[..., httpx.Client]) -> None:
    assert_error(connect("Bearer").get("/datasets"), 401, "unauthenticated")


def test_bearer_scheme_is_case_insensitive(
    connect: Callable[..., httpx.Client], alice: User
) -> None:
    response = connect(f"bearer {alice.token}").get("/me")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == alice.username


# --- token management -------------------------------------------------------------------------


def test_create_list_use_and_revoke_token(
    alice: User, connect: Callable[..., httpx.Client]
) -> None:
    created = alice.client.post("/tokens", json={"name": "ci"})
    assert created.status_code == 201, created.text
    made = created.json()
    secret = made["token"]
    assert secret.startswith("dl_")
    assert made["name"] == "ci"
    assert made["scope"] is None
    assert made["expires_at"] is None

    listing = alice.client.get("/tokens")
    assert listing.status_code == 200, listing.text
    assert secret not in listing.text
    assert hashlib.sha256(secret.encode()).hexdigest() not in listing.text
    mine = [t for t in listing.json() if t["id"] == made["id"]]
    assert len(mine) == 1
    assert "token" not in mine[0]
    assert mine[0]["prefix"] == secret[:9]
    assert mine[0]["name"] == "ci"
    assert mine[0]["username"] == alice.username
    assert mine[0]["scope"] is None
    assert mine[0]["expires_at"] is None
    assert {t["username"] for t in listing.json()} == {alice.username}

    client = bearer(connect, secret)
    me = client.get("/me")
    assert me.status_code == 200, me.text
    assert me.json()["user"]["username"] == alice.username

    revoked = alice.client.delete(f"/tokens/{made['id']}")
    assert revoked.status_code == 204, revoked.text
    error = assert_error(client.get("/me"), 401, "unauthenticated")
    assert "token" in error["message"]
    assert_error(client.get("/datasets"), 401, "unauthenticated")
    assert made["id"] not in [t["id"] for t in alice.client.get("/tokens").json()]
    assert_error(alice.client.delete(f"/tokens/{made['id']}"), 404, "not_found")
    # Revoking one token leaves the others alone.
    assert alice.client.get("/me").status_code == 200


def test_tokens_need_login(anon: httpx.Client) -> None:
    assert_error(anon.get("/tokens"), 401, "unauthenticated")
    assert_error(anon.post("/tokens", json={"name": "x"}), 401, "unauthenticated")


def test_revoke_unknown_token_is_404(alice: User) -> None:
    assert_error(alice.client.delete("/tokens/987654321"), 404, "not_found")


def test_user_cannot_touch_other_users_tokens(alice: User, bob: User) -> None:
    made = alice.client.post("/tokens", json={"name": "private"}).json()
    assert_error(bob.client.delete(f"/tokens/{made['id']}"), 404, "not_found")
    assert_error(bob.client.get("/tokens", params={"username": alice.username}), 403, "forbidden")
    assert_error(bob.client.post("/tokens", json={"username": alice.username}), 403, "forbidden")
    # Still there, still working.
    assert made["id"] in [t["id"] for t in alice.client.get("/tokens").json()]
    assert bob.client.get("/tokens").json() != []
    assert made["id"] not in [t["id"] for t in bob.client.get("/tokens").json()]


def test_user_may_name_themselves(alice: User) -> None:
    made = alice.client.post("/tokens", json={"username": alice.username, "name": "self"})
    assert made.status_code == 201, made.text
    listed = alice.client.get("/tokens", params={"username": alice.username}).json()
    assert made.json()["id"] in [t["id"] for t in listed]


def test_admin_manages_other_users_tokens(
    admin: User, alice: User, connect: Callable[..., httpx.Client]
) -> None:
    created = admin.client.post("/tokens", json={"username": alice.username, "name": "by-admin"})
    assert created.status_code == 201, created.text
    made = created.json()
    client = bearer(connect, made["token"])
    assert client.get("/me").json()["user"]["username"] == alice.username

    listed = admin.client.get("/tokens", params={"username": alice.username})
    assert listed.status_code == 200, listed.text
    ours = [t for t in listed.json() if t["id"] == made["id"]]
    assert len(ours) == 1 and ours[0]["username"] == alice.username
    assert ours[0]["name"] == "by-admin"
    assert made["id"] not in [t["id"] for t in admin.client.get("/tokens").json()]
    # Alice sees it among her own tokens too.
    assert made["id"] in [t["id"] for t in alice.client.get("/tokens").json()]

    assert admin.client.delete(f"/tokens/{made['id']}").status_code == 204
    assert_error(client.get("/me"), 401, "unauthenticated")


def test_admin_token_for_unknown_user_is_404(admin: User) -> None:
    nobody = unique("nobody")
    assert_error(admin.client.post("/tokens", json={"username": nobody}), 404, "not_found")
    assert_error(admin.client.get("/tokens", params={"username": nobody}), 404, "not_found")


def test_expires_in_days_is_reflected(alice: User) -> None:
    before = datetime.now(UTC)
    created = alice.client.post("/tokens", json={"name": "week", "expires_in_days": 7})
    after = datetime.now(UTC)
    assert created.status_code == 201, created.text
    expires = parse_time(created.json()["expires_at"])
    slack = timedelta(seconds=5)
    assert before + timedelta(days=7) - slack <= expires <= after + timedelta(days=7) + slack
    listed = {t["id"]: t for t in alice.client.get("/tokens").json()}
    assert parse_time(listed[created.json()["id"]]["expires_at"]) == expires


def test_expires_at_with_timezone_is_reflected(alice: User) -> None:
    created = alice.client.post("/tokens", json={"expires_at": "2031-05-06T07:08:09+02:00"})
    assert created.status_code == 201, created.text
    expected = datetime(2031, 5, 6, 5, 8, 9, tzinfo=UTC)
    assert parse_time(created.json()["expires_at"]) == expected
    listed = {t["id"]: t for t in alice.client.get("/tokens").json()}
    assert parse_time(listed[created.json()["id"]]["expires_at"]) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"expires_at": "2031-01-01T00:00:00"},  # no timezone
        {"expires_at": "2001-01-01T00:00:00Z"},  # past
        {"expires_at": "2031-01-01T00:00:00Z", "expires_in_days": 3},  # both
        {"expires_in_days": 0},
        {"expires_in_days": 3651},
        {"expires_at": "tomorrow"},
        {"scope": "write"},
        {"scope": "admin"},
        {"name": "x" * 201},
        {"unexpected": True},
    ],
)
def test_bad_token_requests_are_400(alice: User, body: dict[str, Any]) -> None:
    before = [t["id"] for t in alice.client.get("/tokens").json()]
    assert_error(alice.client.post("/tokens", json=body), 400, "invalid")
    assert [t["id"] for t in alice.client.get("/tokens").json()] == before


def test_expires_at_just_past_is_400(alice: User) -> None:
    past = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    assert_error(alice.client.post("/tokens", json={"expires_at": past}), 400, "invalid")


def test_expired_token_is_401(
    loft: Loft, alice: User, connect: Callable[..., httpx.Client], clock: Clock
) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=1.5)
    made = loft.auth.create_token(
        SYSTEM, username=alice.username, name="short", expires_at=deadline
    )
    client = bearer(connect, made.secret)
    assert client.get("/me").status_code == 200
    clock.advance(1.6)  # the server's clock: no need to wait for the deadline
    error = assert_error(client.get("/me"), 401, "unauthenticated")
    assert "expired" in error["message"]
    error = assert_error(client.get("/datasets"), 401, "unauthenticated")
    assert "expired" in error["message"]


# --- read scope -------------------------------------------------------------------------------


def test_read_scope_reads_but_never_writes(
    alice: User, dataset: str, connect: Callable[..., httpx.Client]
) -> None:
    assert alice.client.put(f"{dataset}/files/a.txt", content=b"hello").status_code == 201
    created = alice.client.post("/tokens", json={"name": "reader", "scope": "read"})
    assert created.status_code == 201, created.text
    assert created.json()["scope"] == "read"
    listed = {t["id"]: t for t in alice.client.get("/tokens").json()}
    assert listed[created.json()["id"]]["scope"] == "read"
    reader = bearer(connect, created.json()["token"])

    assert reader.get("/me").json()["user"]["username"] == alice.username
    assert reader.get(dataset).status_code == 200
    got = reader.get(f"{dataset}/files/a.txt")
    assert got.status_code == 200 and got.content == b"hello"
    assert dataset.rsplit("/", 1)[1] in [
        d["name"] for d in reader.get("/datasets", params={"owner": alice.username}).json()["items"]
    ]

    assert_error(reader.post("/datasets", json={"name": unique("ds")}), 403, "forbidden")
    assert_error(reader.put(f"{dataset}/files/b.txt", content=b"nope"), 403, "forbidden")
    assert_error(reader.put(f"{dataset}/files/a.txt", content=b"nope"), 403, "forbidden")
    assert_error(reader.delete(f"{dataset}/files/a.txt"), 403, "forbidden")
    assert_error(reader.patch(dataset, json={"description": "x"}), 403, "forbidden")
    digest = hashlib.sha256(b"blob").hexdigest()
    assert_error(reader.put(f"/blobs/{digest}", content=b"blob"), 403, "forbidden")
    assert_error(reader.post("/tokens", json={"name": "escalate"}), 403, "forbidden")
    assert_error(reader.post("/tokens", json={"name": "again", "scope": "read"}), 403, "forbidden")
    assert_error(reader.post("/teams", json={"name": unique("team")}), 403, "forbidden")
    assert_error(
        reader.patch(f"/users/{alice.username}", json={"full_name": "R. O."}), 403, "forbidden"
    )

    # Nothing changed.
    after = alice.client.get(f"{dataset}/files/a.txt")
    assert after.content == b"hello"
    assert alice.client.get(dataset).json()["version"] == 1
    assert alice.client.get(dataset).json()["description"] == ""
    assert alice.client.get(f"/users/{alice.username}").json()["full_name"] is None


def test_read_scope_cannot_revoke_tokens(alice: User, connect: Callable[..., httpx.Client]) -> None:
    """Revoking a token is a write; a read-only token should not be able to do it."""
    full = alice.client.post("/tokens", json={"name": "full"}).json()
    reader = bearer(connect, alice.client.post("/tokens", json={"scope": "read"}).json()["token"])
    assert_error(reader.delete(f"/tokens/{full['id']}"), 403, "forbidden")
    assert bearer(connect, full["token"]).get("/me").status_code == 200
