"""UFDL's tokens, users, teams, memberships, projects, licences, domains and nodes, over
HTTP as its python client sends them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.dialects.ufdl.conftest import Ufdl, add_member, obtain
from tests.support import Clock, LiveServer, unique

# --- tokens ----------------------------------------------------------------------------------


def test_obtain_refresh_verify(server: LiveServer, alice: User) -> None:
    tokens = obtain(server, alice.username, alice.password)
    assert set(tokens) == {"access", "refresh"}
    refreshed = httpx.post(server.url + "/v1/auth/refresh", json={"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"access"}
    for token in (tokens["access"], tokens["refresh"], refreshed.json()["access"]):
        verified = httpx.post(server.url + "/v1/auth/verify/", json={"token": token})
        assert (verified.status_code, verified.json()) == (200, {})


def test_wrong_password_and_missing_fields(server: LiveServer, alice: User) -> None:
    wrong = httpx.post(
        server.url + "/v1/auth/obtain", json={"username": alice.username, "password": "nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "No active account found with the given credentials"}
    missing = httpx.post(server.url + "/v1/auth/obtain", json={"username": alice.username})
    assert missing.status_code == 400
    assert "password" in missing.json()["detail"]


def _me(server: LiveServer, token: str, username: str) -> httpx.Response:
    return httpx.get(
        server.url + f"/v1/users/{username}", headers={"Authorization": f"Bearer {token}"}
    )


def test_expired_access_is_401_and_refresh_gives_a_new_one(
    server: LiveServer, alice: User, clock: Clock
) -> None:
    """The client refreshes on 401: an expired token must be exactly that."""
    tokens = obtain(server, alice.username, alice.password)
    assert _me(server, tokens["access"], alice.username).status_code == 200
    clock.advance(5 * 60 + 1)
    expired = _me(server, tokens["access"], alice.username)
    assert expired.status_code == 401
    assert expired.json()["code"] == "token_not_valid"
    assert expired.headers["www-authenticate"] == 'Bearer realm="api"'
    fresh = httpx.post(server.url + "/v1/auth/refresh", json={"refresh": tokens["refresh"]})
    assert fresh.status_code == 200
    assert _me(server, fresh.json()["access"], alice.username).status_code == 200
    clock.advance(8 * 3600)
    stale = httpx.post(server.url + "/v1/auth/refresh", json={"refresh": tokens["refresh"]})
    assert stale.status_code == 401
    assert stale.json() == {"detail": "Token is invalid", "code": "token_not_valid"}


def test_bad_tokens_are_401_even_where_anyone_may_list(server: LiveServer, alice: User) -> None:
    tokens = obtain(server, alice.username, alice.password)
    for token in ("garbage", tokens["refresh"], tokens["access"][:-4] + "AAAA", "a.b.c"):
        response = httpx.post(
            server.url + "/v1/licences/list", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token
        assert response.json()["code"] == "token_not_valid"


def test_a_new_password_ends_old_tokens(
    server: LiveServer, alice: User, admin: User, loft: Any
) -> None:
    tokens = obtain(server, alice.username, alice.password)
    changed = admin.client.patch(f"/users/{alice.username}", json={"password": "new-" + unique()})
    assert changed.status_code == 200, changed.text
    assert _me(server, tokens["access"], alice.username).status_code == 401
    refused = httpx.post(server.url + "/v1/auth/refresh", json={"refresh": tokens["refresh"]})
    assert refused.status_code == 401


def test_api_tokens_work_as_bearer(server: LiveServer, alice: User) -> None:
    response = _me(server, alice.token, alice.username)
    assert response.status_code == 200
    assert response.json()[0]["username"] == alice.username


def test_anonymous_gets_drf_words(server: LiveServer) -> None:
    response = httpx.post(server.url + "/v1/licences/list")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


# --- users -----------------------------------------------------------------------------------


def test_users(ufdl_admin: Ufdl, as_user: Callable[[User], Ufdl], alice: User, bob: User) -> None:
    me = as_user(alice)
    found = me.http.get(f"/users/{alice.username}").json()
    assert isinstance(found, list) and found[0]["username"] == alice.username
    assert list(found[0]) == [
        "username",
        "pk",
        "last_login",
        "is_superuser",
        "first_name",
        "last_name",
        "email",
        "is_staff",
        "is_active",
        "date_joined",
    ]
    assert found[0]["last_login"] is not None  # set by obtaining the token
    assert me.http.get(f"/users/{found[0]['pk']}").status_code == 200  # yourself by number
    assert me.http.get(f"/users/{bob.username}").status_code == 403
    assert me.list("/users").status_code == 403

    name = unique("carol")
    made = ufdl_admin.http.post(
        "/users/create",
        json={
            "username": name,
            "password": "pw-" + unique(),
            "email": "c@example.org",
            "first_name": "Carol",
            "last_name": "Ng",
        },
    )
    assert made.status_code == 201, made.text
    user = made.json()
    assert (user["first_name"], user["last_name"], user["is_staff"]) == ("Carol", "Ng", False)
    clash = ufdl_admin.http.post("/users/create", json={"username": name, "password": "x"})
    assert clash.status_code == 400
    patched = ufdl_admin.http.patch(f"/users/{user['pk']}", json={"last_name": "Smith"})
    assert patched.json()["last_name"] == "Smith"
    assert ufdl_admin.http.delete(f"/users/{user['pk']}").status_code == 204
    listed = ufdl_admin.list(
        "/users", {"expressions": [{"type": "exact", "field": "username", "value": name}]}
    )
    assert listed.json() == []  # deactivated: inactive rows are left out unless asked
    listed = ufdl_admin.list(
        "/users",
        {
            "expressions": [{"type": "exact", "field": "username", "value": name}],
            "include_inactive": True,
        },
    )
    assert [u["is_active"] for u in listed.json()] == [False]


# --- teams and memberships --------------------------------------------------------------------


def test_only_site_admins_make_teams(
    server: LiveServer, as_user: Callable[[User], Ufdl], alice: User
) -> None:
    assert as_user(alice).http.post("/teams/create", json={"name": unique("t")}).status_code == 403
    anonymous = httpx.post(server.url + "/v1/teams/create", json={"name": unique("t")})
    assert anonymous.status_code == 401


def test_team_lifecycle_and_memberships(
    ufdl_admin: Ufdl,
    as_user: Callable[[User], Ufdl],
    team: dict[str, Any],
    alice: User,
    bob: User,
    make_user: Callable[..., User],
) -> None:
    assert team["members"] == [] and team["deletion_time"] is None
    assert list(team) == ["pk", "name", "members", "creator", "creation_time", "deletion_time"]
    pk = team["pk"]
    add_member(ufdl_admin, pk, alice.username, "A")
    add_member(ufdl_admin, pk, bob.username, "R")
    again = ufdl_admin.http.patch(
        f"/teams/{pk}/memberships", json={"method": "add", "username": bob.username}
    )
    assert again.status_code == 400  # UFDL: 500
    a = as_user(alice)
    assert a.http.get(f"/teams/{pk}/permissions/{bob.username}").json() == "R"
    updated = a.http.patch(
        f"/teams/{pk}/memberships",
        json={"method": "update", "username": bob.username, "permissions": "W"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["permissions"] == "W"
    assert a.http.get(f"/teams/{pk}/permissions/{bob.username}").json() == "W"

    stranger = make_user("dave")
    not_member = a.http.get(f"/teams/{pk}/permissions/{stranger.username}")
    assert not_member.status_code == 400
    assert not_member.json()["detail"].startswith(f"Bad name '{stranger.username}'")
    assert as_user(bob).http.get(f"/teams/{pk}/permissions/{alice.username}").status_code == 403
    assert as_user(stranger).http.get(f"/teams/{pk}").status_code == 404

    removed = a.http.patch(
        f"/teams/{pk}/memberships", json={"method": "remove", "username": bob.username}
    )
    assert removed.status_code == 200
    assert removed.json()["deletion_time"] is not None
    members = a.http.get(f"/teams/{pk}").json()["members"]
    assert [m["username"] for m in members] == [alice.username]
    bad = a.http.patch(f"/teams/{pk}/memberships", json={"method": "fly", "username": "x"})
    assert bad.status_code == 400
    extra = a.http.patch(
        f"/teams/{pk}/memberships", json={"method": "add", "username": "x", "colour": 1}
    )
    assert extra.status_code == 400

    renamed = a.http.patch(f"/teams/{pk}", json={"name": team["name"] + "-x"})
    assert renamed.status_code == 200 and renamed.json()["name"] == team["name"] + "-x"
    spec = {"expressions": [{"type": "exact", "field": "pk", "value": pk}]}
    assert [t["pk"] for t in a.list("/teams", spec).json()] == [pk]
    assert a.http.delete(f"/teams/{pk}").status_code == 204
    assert a.list("/teams", spec).json() == []  # its members no longer see it
    assert ufdl_admin.list("/teams", spec).json() == []
    inactive = ufdl_admin.list("/teams", {**spec, "include_inactive": True}).json()
    assert inactive[0]["deletion_time"] is not None
    assert a.http.delete(f"/teams/{pk}/reinstate").status_code == 403
    back = ufdl_admin.http.delete(f"/teams/{pk}/reinstate")
    assert back.status_code == 200 and back.json()["deletion_time"] is None
    assert [t["pk"] for t in a.list("/teams", spec).json()] == [pk]
    gone = ufdl_admin.http.delete(f"/teams/{pk}/hard")
    assert gone.status_code == 200 and gone.json()["pk"] == pk
    assert ufdl_admin.http.get(f"/teams/{pk}").status_code == 404


# --- projects --------------------------------------------------------------------------------


def test_projects(
    ufdl_admin: Ufdl,
    as_user: Callable[[User], Ufdl],
    team: dict[str, Any],
    alice: User,
    bob: User,
) -> None:
    add_member(ufdl_admin, team["pk"], alice.username, "W")
    add_member(ufdl_admin, team["pk"], bob.username, "R")
    a, b = as_user(alice), as_user(bob)
    name = unique("proj")
    made = a.http.post("/projects/create", json={"name": name, "team": team["pk"]})
    assert made.status_code == 201, made.text
    project = made.json()
    assert list(project) == ["pk", "name", "team", "creator", "creation_time", "deletion_time"]
    assert project["team"] == team["pk"]
    assert (
        b.http.post("/projects/create", json={"name": unique("p"), "team": team["pk"]}).status_code
        == 403
    )
    clash = a.http.post("/projects/create", json={"name": name, "team": team["pk"]})
    assert clash.status_code == 400
    assert b.http.get(f"/projects/{project['pk']}").status_code == 200
    listed = b.list(
        "/projects",
        {"expressions": [{"type": "exact", "field": "team.name", "value": team["name"]}]},
    )
    assert [p["pk"] for p in listed.json()] == [project["pk"]]

    # Moving a project needs W in the team it moves to (UFDL asked only the first).
    other = ufdl_admin.http.post("/teams/create", json={"name": unique("team")}).json()
    add_member(ufdl_admin, other["pk"], alice.username, "R")
    moved = a.http.patch(f"/projects/{project['pk']}", json={"team": other["pk"]})
    assert moved.status_code == 403
    add_member(ufdl_admin, other["pk"], bob.username, "W")
    ufdl_admin.http.patch(
        f"/teams/{other['pk']}/memberships",
        json={"method": "update", "username": alice.username, "permissions": "W"},
    )
    moved = a.http.patch(f"/projects/{project['pk']}", json={"team": other["pk"]})
    assert moved.status_code == 200 and moved.json()["team"] == other["pk"]

    assert a.http.delete(f"/projects/{project['pk']}").status_code == 204
    assert a.http.get(f"/projects/{project['pk']}").json()["deletion_time"] is not None
    again = a.http.post("/projects/create", json={"name": name, "team": other["pk"]})
    assert again.status_code == 201  # a deleted project's name is free again
    assert a.http.delete(f"/projects/{project['pk']}/hard").status_code == 403
    assert ufdl_admin.http.delete(f"/projects/{project['pk']}/hard").status_code == 200


# --- licences, domains, nodes ------------------------------------------------------------------


def test_licences_as_ufdl_ships_them(as_user: Callable[[User], Ufdl], alice: User) -> None:
    a = as_user(alice)
    for word in ("licences", "licenses"):
        listed = a.list(f"/{word}").json()
        assert len(listed) >= 14
    mit = a.list(
        "/licences", {"expressions": [{"type": "exact", "field": "name", "value": "MIT"}]}
    ).json()
    assert mit == [
        {
            "pk": 11,
            "name": "MIT",
            "url": "https://opensource.org/licenses/MIT",
            "permissions": ["Commercial use", "Distribution", "Modification", "Private use"],
            "conditions": ["License and copyright notice"],
            "limitations": ["Warranty", "Liability"],
            "domains": ["Software", "Models"],
        }
    ]
    assert a.http.get("/licenses/11").json()["name"] == "MIT"
    assert a.http.post("/licences/create", json={"name": "x", "url": "y"}).status_code == 403


def test_licence_administration(ufdl_admin: Ufdl) -> None:
    name = unique("Licence")
    made = ufdl_admin.http.post(
        "/licences/create",
        json={"name": name, "url": "https://example.org/l", "permissions": ["Use"]},
    )
    assert made.status_code == 201, made.text
    pk = made.json()["pk"]
    added = ufdl_admin.http.patch(
        f"/licences/{pk}/subdescriptors",
        json={"type": "conditions", "method": "add", "names": ["Attribution", "Share"]},
    )
    assert added.json()["conditions"] == ["Attribution", "Share"]
    removed = ufdl_admin.http.patch(
        f"/licences/{pk}/subdescriptors",
        json={"type": "conditions", "method": "remove", "names": [1]},
    )
    assert removed.json()["conditions"] == ["Share"]
    bad = ufdl_admin.http.patch(
        f"/licences/{pk}/subdescriptors", json={"type": "colours", "method": "add", "names": []}
    )
    assert bad.status_code == 400
    assert ufdl_admin.http.delete(f"/licences/{pk}").status_code == 204
    assert ufdl_admin.http.get(f"/licences/{pk}").status_code == 404


def test_domains(as_user: Callable[[User], Ufdl], alice: User) -> None:
    a = as_user(alice)
    assert a.list("/domains").json() == [
        {"pk": 1, "name": "ic", "description": "Image Classification"},
        {"pk": 2, "name": "is", "description": "Image Segmentation"},
        {"pk": 3, "name": "od", "description": "Object Detection"},
        {"pk": 4, "name": "sc", "description": "Spectrum Classification"},
        {"pk": 5, "name": "sp", "description": "Speech"},
    ]
    assert a.http.get("/domains/3/").json()["name"] == "od"


def test_nodes_and_the_node_id_header(
    as_user: Callable[[User], Ufdl], alice: User, bob: User
) -> None:
    a = as_user(alice)
    made = a.http.post(
        "/nodes/create",
        json={
            "ip": "10.0.0.5",
            "index": 0,
            "cpu_mem": 64000,
            "gpu_mem": 8000,
            "driver_version": "535",
            "hardware_generation": "Ampere",
        },
    )
    assert made.status_code == 201, made.text
    node = made.json()
    assert node["ip"] == "10.0.0.5" and node["last_seen"] is not None
    ping = a.http.get("/nodes/ping", headers={"Node-Id": str(node["pk"])})
    assert (ping.status_code, ping.content) == (200, b"")
    assert as_user(bob).http.get(f"/nodes/{node['pk']}").status_code == 403
    bad = a.http.get("/nodes/ping", headers={"Node-Id": "abc"})
    assert bad.status_code == 400
    assert bad.json() == {
        "detail": "Bad Node-Id header 'abc': Unable to parse into an integer primary-key"
    }
    unknown = a.http.get("/nodes/ping", headers={"Node-Id": "999999"})
    assert unknown.json() == {
        "detail": "Bad Node-Id header '999999': No node with this primary-key"
    }


# --- the routes themselves --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/domains/list", "/v1/domains/list/"])
def test_trailing_slash_either_way(server: LiveServer, alice: User, path: str) -> None:
    response = httpx.post(server.url + path, headers={"Authorization": f"Bearer {alice.token}"})
    assert response.status_code == 200


def test_wrong_method_is_405_not_500(server: LiveServer, alice: User) -> None:
    response = httpx.get(
        server.url + "/v1/teams/list", headers={"Authorization": f"Bearer {alice.token}"}
    )
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


def test_the_log(
    server: LiveServer, as_user: Callable[[User], Ufdl], alice: User, bob: User
) -> None:
    """Clients leave messages (``log.create``); any logged-in user lists them; nobody
    rewrites or deletes them (the event log is append-only)."""
    words = unique("message")
    made = as_user(alice).http.post("/log/create", json={"level": 3, "message": words})
    assert made.status_code == 201, made.text
    entry = made.json()
    assert list(entry) == ["pk", "creation_time", "level", "is_internal", "message"]
    assert (entry["level"], entry["is_internal"], entry["message"]) == (3, False, words)
    b = as_user(bob)
    spec = {"expressions": [{"type": "exact", "field": "message", "value": words}]}
    assert [e["pk"] for e in b.list("/log", spec).json()] == [entry["pk"]]
    high = {"expressions": [{"type": "compare", "field": "level", "operator": ">", "value": 3}]}
    assert entry["pk"] not in {e["pk"] for e in b.list("/log", high).json()}
    assert b.http.get(f"/log/{entry['pk']}").json() == entry
    assert b.http.delete(f"/log/{entry['pk']}").status_code == 405
    assert (
        as_user(alice).http.post("/log/create", json={"level": -1, "message": "x"}).status_code
        == 400
    )
    assert httpx.post(server.url + "/v1/log/list").status_code == 401


def test_read_only_tokens_change_nothing(
    server: LiveServer, loft: Any, team: dict[str, Any]
) -> None:
    """A site admin's dataloft token with the read scope reads, and changes nothing."""
    token = loft.auth.create_token(SYSTEM, username="admin", name="r", scope="read").secret
    with httpx.Client(
        base_url=server.url + "/v1", headers={"Authorization": f"Bearer {token}"}
    ) as reader:
        assert reader.get(f"/teams/{team['pk']}").status_code == 200
        assert reader.delete(f"/teams/{team['pk']}").status_code == 403
        assert reader.post("/teams/create", json={"name": unique("t")}).status_code == 403
        assert reader.post("/log/create", json={"level": 1, "message": "m"}).status_code == 403
        assert reader.post("/nodes/create", json={"ip": "1.2.3.4"}).status_code == 403
        assert (
            reader.post("/licences/create", json={"name": unique("L"), "url": "u"}).status_code
            == 403
        )
        assert reader.post("/users/list", content=b"").status_code == 200


def test_tokens_outlive_the_process_that_signed_them(
    server: LiveServer, alice: User, settings: Any
) -> None:
    """The signing key lives in the database: a second server (a restart, or another
    process under --workers) accepts the tokens the first one gave out."""
    tokens = obtain(server, alice.username, alice.password)
    with Loft(settings) as another:
        assert another.web_tokens.authenticate(tokens["access"]).username == alice.username
        assert another.web_tokens.refresh(tokens["refresh"])
