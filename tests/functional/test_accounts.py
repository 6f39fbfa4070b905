"""Users, teams, memberships, projects and licences over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import FAST_HASHING, LiveServer, postgres_database, unique

MakeUser = Callable[..., User]


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


def login(anon: httpx.Client, username: str, password: str) -> httpx.Response:
    return anon.post("/auth/token", json={"username": username, "password": password})


def new_team(owner: User) -> str:
    name = unique("team")
    response = owner.client.post("/teams", json={"name": name})
    assert response.status_code == 201, response.text
    return name


def add_member(team_admin: User, team: str, member: User, level: str) -> None:
    response = team_admin.client.put(
        f"/teams/{team}/members/{member.username}", json={"level": level}
    )
    assert response.status_code == 200, response.text
    assert response.json()["level"] == level


def new_project(writer: User, team: str) -> str:
    name = unique("proj")
    response = writer.client.post(f"/teams/{team}/projects", json={"name": name})
    assert response.status_code == 201, response.text
    return name


def levels(client: httpx.Client, team: str) -> dict[str, str]:
    response = client.get(f"/teams/{team}/members")
    assert response.status_code == 200, response.text
    return {m["username"]: m["level"] for m in response.json()}


# --- tokens (the rest is in test_auth.py) -----------------------------------------------------


def test_anonymous_token_revocation_is_401(anon: httpx.Client, alice: User) -> None:
    """Like GET and POST /tokens: an anonymous caller is asked to log in, whether or not
    the token exists, and the token keeps working."""
    made = alice.client.post("/tokens", json={"name": "kept"})
    assert made.status_code == 201, made.text
    for token_id in (made.json()["id"], 987654321):
        assert_error(anon.delete(f"/tokens/{token_id}"), 401, "unauthenticated")
    assert made.json()["id"] in [t["id"] for t in alice.client.get("/tokens").json()]
    kept = alice.client.get("/me", headers={"Authorization": f"Bearer {made.json()['token']}"})
    assert kept.status_code == 200, kept.text


# --- users: listing ---------------------------------------------------------------------------


def test_only_admins_list_users(anon: httpx.Client, admin: User, alice: User) -> None:
    assert_error(alice.client.get("/users"), 403, "forbidden")
    listed = admin.client.get("/users", params={"limit": 1000})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert set(page) == {"items", "next_cursor"}
    if page["next_cursor"] is None:
        assert {"admin", alice.username} <= {u["username"] for u in page["items"]}


def test_anonymous_listing_users_is_401(anon: httpx.Client) -> None:
    """Anonymous callers are asked to log in (401) everywhere else, e.g. GET /users/{name};
    a 403 here tells a client that logging in would not help."""
    assert_error(anon.get("/users"), 401, "unauthenticated")


def test_user_listing_pages_with_keyset_cursor(admin: User, loft: Loft) -> None:
    prefix = unique("page")
    mine = {f"{prefix}-{i:02d}" for i in range(13)}
    for name in mine:
        loft.accounts.create_user(SYSTEM, name, None)
    total = loft.accounts.count_users()

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor is not None:
            params["cursor"] = cursor
        response = admin.client.get("/users", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        names = [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is not None:
            assert len(names) == 5
        else:
            assert 1 <= len(names) <= 5
        seen.extend(names)
        if cursor is None:
            break
        assert pages < 10_000

    assert len(seen) == len(set(seen)), "a user appeared on two pages"
    assert seen == sorted(seen)
    assert mine <= set(seen)
    assert len(seen) == total
    assert pages == -(-total // 5)


def test_user_listing_rejects_bad_paging(admin: User) -> None:
    assert_error(admin.client.get("/users", params={"limit": 0}), 400, "invalid")
    # Above the maximum is a 400 as on every other listing, not silently 1000.
    for too_many in (1001, 5000):
        message = assert_error(
            admin.client.get("/users", params={"limit": too_many}), 400, "invalid"
        )
        assert "limit" in message and "1000" in message, message
    assert admin.client.get("/users", params={"limit": 1000}).status_code == 200
    assert_error(admin.client.get("/users", params={"cursor": "%%%"}), 400, "invalid")
    assert_error(admin.client.get("/users", params={"cursor": "WzFd"}), 400, "invalid")  # [1]


# --- users: creation --------------------------------------------------------------------------


def test_admin_creates_user_who_can_log_in(admin: User, anon: httpx.Client) -> None:
    username = unique("new")
    created = admin.client.post(
        "/users",
        json={
            "username": username,
            "password": "correct horse",
            "email": f"{username}@example.org",
            "full_name": "New Person",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["username"] == username
    assert body["email"] == f"{username}@example.org"
    assert body["full_name"] == "New Person"
    assert body["is_admin"] is False
    assert body["is_active"] is True
    assert "password" not in body and "password_hash" not in body

    assert login(anon, username, "correct horse").status_code == 200
    assert admin.client.get(f"/users/{username}").json() == body


def test_admin_creates_admin(admin: User, anon: httpx.Client) -> None:
    username = unique("boss")
    created = admin.client.post(
        "/users", json={"username": username, "password": "password-1234", "is_admin": True}
    )
    assert created.status_code == 201, created.text
    assert created.json()["is_admin"] is True
    token = login(anon, username, "password-1234").json()["token"]
    listed = anon.get("/users", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text


def test_non_admin_cannot_create_users(alice: User, admin: User) -> None:
    username = unique("sneaky")
    response = alice.client.post("/users", json={"username": username, "password": "password-1"})
    assert_error(response, 403, "forbidden")
    assert_error(admin.client.get(f"/users/{username}"), 404, "not_found")


def test_duplicate_username_is_409(admin: User, alice: User) -> None:
    response = admin.client.post(
        "/users", json={"username": alice.username, "password": "password-1234"}
    )
    assert_error(response, 409, "conflict")


@pytest.mark.parametrize("name", [".x", "a b", "", "_x", "-x", "a/b", "x" * 101, "a\nb"])
def test_invalid_usernames_are_400(admin: User, name: str) -> None:
    response = admin.client.post("/users", json={"username": name, "password": "password-1234"})
    assert_error(response, 400, "invalid")


def test_names_with_trailing_newline_are_400(admin: User, alice: User) -> None:
    """Names allow letters, digits, '.', '_' and '-' only; a trailing newline is none of them."""
    username, team = unique("nl") + "\n", unique("nlteam") + "\n"
    created = admin.client.post("/users", json={"username": username, "password": "password-1"})
    assert_error(created, 400, "invalid")
    assert_error(alice.client.post("/teams", json={"name": team}), 400, "invalid")


def test_username_rules_accept_dots_dashes_underscores(admin: User) -> None:
    name = unique("ok") + ".a-b_c"
    response = admin.client.post("/users", json={"username": name, "password": "password-1234"})
    assert response.status_code == 201, response.text
    assert response.json()["username"] == name


def test_password_length_rules(admin: User, anon: httpx.Client) -> None:
    short, exact = unique("short"), unique("exact")
    assert_error(
        admin.client.post("/users", json={"username": short, "password": "1234567"}),
        400,
        "invalid",
    )
    assert_error(admin.client.get(f"/users/{short}"), 404, "not_found")
    created = admin.client.post("/users", json={"username": exact, "password": "12345678"})
    assert created.status_code == 201, created.text
    assert login(anon, exact, "12345678").status_code == 200


# --- users: reading and changing --------------------------------------------------------------


def test_email_is_visible_to_self_and_admins_only(
    admin: User, make_user: MakeUser, anon: httpx.Client
) -> None:
    carol, dave = make_user("carol"), make_user("dave")
    email = f"{carol.username}@example.org"
    assert carol.client.patch(f"/users/{carol.username}", json={"email": email}).status_code == 200

    own = carol.client.get(f"/users/{carol.username}")
    assert own.status_code == 200 and own.json()["email"] == email
    by_admin = admin.client.get(f"/users/{carol.username}")
    assert by_admin.status_code == 200 and by_admin.json()["email"] == email
    by_other = dave.client.get(f"/users/{carol.username}")
    assert by_other.status_code == 200
    assert by_other.json()["email"] is None
    assert by_other.json()["username"] == carol.username
    assert by_other.json()["id"] == own.json()["id"]

    assert_error(dave.client.get(f"/users/{unique('nobody')}"), 404, "not_found")
    assert_error(anon.get(f"/users/{carol.username}"), 401, "unauthenticated")


def test_self_changes_profile_and_password(alice: User, anon: httpx.Client) -> None:
    changed = alice.client.patch(
        f"/users/{alice.username}",
        json={
            "email": "alice@example.org",
            "full_name": "Alice Liddell",
            "password": "new-pass-99",
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "alice@example.org"
    assert changed.json()["full_name"] == "Alice Liddell"
    assert alice.client.get(f"/users/{alice.username}").json()["full_name"] == "Alice Liddell"

    assert login(anon, alice.username, "new-pass-99").status_code == 200
    assert_error(login(anon, alice.username, alice.password), 401, "unauthenticated")
    # Existing tokens survive a password change.
    assert alice.client.get("/me").status_code == 200

    cleared = alice.client.patch(f"/users/{alice.username}", json={"email": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["email"] is None
    assert cleared.json()["full_name"] == "Alice Liddell"


def test_self_password_change_follows_rules(alice: User, anon: httpx.Client) -> None:
    response = alice.client.patch(f"/users/{alice.username}", json={"password": "short"})
    assert_error(response, 400, "invalid")
    assert login(anon, alice.username, alice.password).status_code == 200


@pytest.mark.parametrize("change", [{"is_admin": True}, {"is_active": False}])
def test_self_may_not_change_privileges(alice: User, change: dict[str, bool]) -> None:
    assert_error(alice.client.patch(f"/users/{alice.username}", json=change), 403, "forbidden")
    me = alice.client.get(f"/users/{alice.username}").json()
    assert me["is_admin"] is False and me["is_active"] is True
    assert_error(alice.client.get("/users"), 403, "forbidden")


def test_user_may_not_change_others(alice: User, bob: User) -> None:
    response = alice.client.patch(f"/users/{bob.username}", json={"full_name": "Mallory"})
    assert_error(response, 403, "forbidden")
    assert_error(alice.client.delete(f"/users/{bob.username}"), 403, "forbidden")
    assert bob.client.get(f"/users/{bob.username}").json()["full_name"] is None
    assert bob.client.get("/me").status_code == 200


def test_patch_unknown_field_or_user(admin: User, alice: User) -> None:
    assert_error(
        alice.client.patch(f"/users/{alice.username}", json={"username": "x"}), 400, "invalid"
    )
    assert_error(
        admin.client.patch(f"/users/{unique('nobody')}", json={"full_name": "x"}), 404, "not_found"
    )


def test_admin_grants_and_revokes_admin(admin: User, alice: User) -> None:
    promoted = admin.client.patch(f"/users/{alice.username}", json={"is_admin": True})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["is_admin"] is True
    assert alice.client.get("/users", params={"limit": 1}).status_code == 200

    demoted = admin.client.patch(f"/users/{alice.username}", json={"is_admin": False})
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["is_admin"] is False
    assert_error(alice.client.get("/users"), 403, "forbidden")


def test_admin_deactivates_and_reactivates(admin: User, alice: User, anon: httpx.Client) -> None:
    off = admin.client.patch(f"/users/{alice.username}", json={"is_active": False})
    assert off.status_code == 200, off.text
    assert off.json()["is_active"] is False
    assert_error(alice.client.get("/me"), 401, "unauthenticated")
    assert_error(login(anon, alice.username, alice.password), 401, "unauthenticated")

    on = admin.client.patch(f"/users/{alice.username}", json={"is_active": True})
    assert on.status_code == 200, on.text
    assert on.json()["is_active"] is True
    assert login(anon, alice.username, alice.password).status_code == 200


def test_delete_user_deactivates(admin: User, alice: User, anon: httpx.Client) -> None:
    session = login(anon, alice.username, alice.password).json()["token"]
    response = admin.client.delete(f"/users/{alice.username}")
    assert response.status_code == 200, response.text
    assert response.json()["username"] == alice.username
    assert response.json()["is_active"] is False

    assert_error(login(anon, alice.username, alice.password), 401, "unauthenticated")
    assert_error(alice.client.get("/me"), 401, "unauthenticated")
    assert_error(alice.client.get("/datasets"), 401, "unauthenticated")
    other = anon.get("/me", headers={"Authorization": f"Bearer {session}"})
    assert_error(other, 401, "unauthenticated")
    # Still there, so that versions can keep naming their author.
    kept = admin.client.get(f"/users/{alice.username}")
    assert kept.status_code == 200 and kept.json()["is_active"] is False
    assert_error(admin.client.delete(f"/users/{unique('nobody')}"), 404, "not_found")


def test_deactivated_user_cannot_join_teams(admin: User, alice: User, bob: User) -> None:
    team = new_team(alice)
    assert admin.client.delete(f"/users/{bob.username}").status_code == 200
    response = alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "R"})
    assert_error(response, 409, "conflict")
    assert bob.username not in levels(alice.client, team)


# --- the last active admin --------------------------------------------------------------------


@pytest.fixture
def lone_admin(settings: Settings, tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """A fresh database and server whose only admin is "admin", since the shared database
    always has other admins. Yields (anonymous client, admin client)."""
    password = "lone-admin-password"
    with contextlib.ExitStack() as stack:
        if settings.is_sqlite:
            url = f"sqlite:///{tmp_path / 'lone.sqlite3'}"
        else:
            url = stack.enter_context(postgres_database())
        fresh = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            blob_url=f"file://{tmp_path / 'blobs'}",
            admin_password=password,
            **FAST_HASHING,
        )
        core = Loft(fresh)
        stack.callback(core.close)
        core.bootstrap_admin()
        live = LiveServer(create_app(fresh, core)).start()
        stack.callback(live.stop)
        base = live.url + "/loft/v1"
        anon = stack.enter_context(httpx.Client(base_url=base, timeout=30))
        token = login(anon, "admin", password).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        admin = stack.enter_context(httpx.Client(base_url=base, headers=headers, timeout=30))
        yield anon, admin


def test_last_active_admin_is_kept(lone_admin: tuple[httpx.Client, httpx.Client]) -> None:
    anon, admin = lone_admin
    assert admin.get("/users").json()["items"][0]["username"] == "admin"
    assert len(admin.get("/users").json()["items"]) == 1

    assert_error(admin.patch("/users/admin", json={"is_admin": False}), 409, "conflict")
    assert_error(admin.patch("/users/admin", json={"is_active": False}), 409, "conflict")
    assert_error(admin.delete("/users/admin"), 409, "conflict")
    state = admin.get("/users/admin").json()
    assert state["is_admin"] is True and state["is_active"] is True

    # An inactive admin does not count as another admin.
    second = admin.post(
        "/users", json={"username": "second", "password": "password-2", "is_admin": True}
    )
    assert second.status_code == 201, second.text
    assert admin.delete("/users/second").status_code == 200
    assert_error(admin.patch("/users/admin", json={"is_admin": False}), 409, "conflict")

    # With another active admin, the first may step down; then the other is the last one.
    assert admin.patch("/users/second", json={"is_active": True}).status_code == 200
    stepped = admin.patch("/users/admin", json={"is_admin": False})
    assert stepped.status_code == 200, stepped.text
    assert stepped.json()["is_admin"] is False
    assert_error(admin.get("/users"), 403, "forbidden")

    token = login(anon, "second", "password-2").json()["token"]
    second_client = httpx.Client(
        base_url=str(anon.base_url), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    with second_client:
        assert_error(second_client.delete("/users/second"), 409, "conflict")
        assert_error(
            second_client.patch("/users/second", json={"is_admin": False}), 409, "conflict"
        )
        # Deactivating a non-admin is never blocked.
        assert second_client.delete("/users/admin").status_code == 200
        assert second_client.get("/users/second").json()["is_admin"] is True


# --- one namespace for users and teams --------------------------------------------------------


def test_team_cannot_take_a_username(alice: User, bob: User) -> None:
    assert_error(bob.client.post("/teams", json={"name": alice.username}), 409, "conflict")
    team = new_team(bob)
    renamed = bob.client.patch(f"/teams/{team}", json={"name": alice.username})
    assert_error(renamed, 409, "conflict")
    assert bob.client.get(f"/teams/{team}").status_code == 200


def test_user_cannot_take_a_team_name(admin: User, alice: User) -> None:
    team = new_team(alice)
    response = admin.client.post("/users", json={"username": team, "password": "password-1234"})
    assert_error(response, 409, "conflict")
    assert_error(admin.client.get(f"/users/{team}"), 404, "not_found")


def test_duplicate_team_name_is_409(alice: User, bob: User) -> None:
    team = new_team(alice)
    assert_error(bob.client.post("/teams", json={"name": team}), 409, "conflict")
    assert_error(bob.client.get(f"/teams/{team}"), 404, "not_found")


# --- teams ------------------------------------------------------------------------------------


def test_creator_becomes_team_admin(alice: User) -> None:
    name = unique("team")
    response = alice.client.post("/teams", json={"name": name, "description": "our team"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == name
    assert body["description"] == "our team"
    assert [(m["username"], m["level"], m["team"]) for m in body["members"]] == [
        (alice.username, "A", name)
    ]
    assert alice.client.get(f"/teams/{name}").json() == body


def test_team_creation_rules(anon: httpx.Client, alice: User) -> None:
    assert_error(anon.post("/teams", json={"name": unique("team")}), 401, "unauthenticated")
    for bad in (".x", "a b", ""):
        assert_error(alice.client.post("/teams", json={"name": bad}), 400, "invalid")


def test_team_listing_shows_own_teams_only(admin: User, alice: User, bob: User) -> None:
    alices, bobs = new_team(alice), new_team(bob)
    alice_sees = {t["name"] for t in alice.client.get("/teams").json()}
    assert alices in alice_sees and bobs not in alice_sees
    bob_sees = {t["name"] for t in bob.client.get("/teams").json()}
    assert bob_sees == {bobs}
    admin_sees = {t["name"] for t in admin.client.get("/teams").json()}
    assert {alices, bobs} <= admin_sees

    add_member(alice, alices, bob, "R")
    assert {t["name"] for t in bob.client.get("/teams").json()} == {alices, bobs}


def test_team_listing_includes_members(admin: User, alice: User, bob: User) -> None:
    shared, own = new_team(alice), new_team(bob)
    add_member(alice, shared, bob, "W")
    listed = {t["name"]: t for t in bob.client.get("/teams").json()}
    assert set(listed) == {shared, own}
    members = [(m["team"], m["username"], m["level"]) for m in listed[shared]["members"]]
    assert members == sorted(
        [(shared, alice.username, "A"), (shared, bob.username, "W")], key=lambda m: m[1]
    )
    assert [(m["username"], m["level"]) for m in listed[own]["members"]] == [(bob.username, "A")]
    # Each listed team is the same as the team read on its own.
    for name, team in listed.items():
        assert bob.client.get(f"/teams/{name}").json() == team
    admin_sees = {t["name"]: t for t in admin.client.get("/teams").json()}
    assert admin_sees[shared] == listed[shared]


def test_team_listing_loads_members_in_one_query(
    make_user: MakeUser, loft: Loft, settings: Settings
) -> None:
    """Listing teams costs the same number of queries for one team as for five."""
    lead, member = make_user("lead"), make_user("member")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def queries_for_listing(expected_teams: int) -> int:
        statements.clear()
        event.listen(loft.db.engine, "before_cursor_execute", count)
        try:
            response = lead.client.get("/teams")
        finally:
            event.remove(loft.db.engine, "before_cursor_execute", count)
        assert response.status_code == 200, response.text
        assert len(response.json()) == expected_teams
        assert all(len(t["members"]) == 2 for t in response.json())
        return len(statements)

    def add_team() -> None:
        team = new_team(lead)
        add_member(lead, team, member, "R")

    add_team()
    one = queries_for_listing(1)
    for _ in range(4):
        add_team()
    assert queries_for_listing(5) == one


def test_team_listing_needs_login(anon: httpx.Client) -> None:
    assert_error(anon.get("/teams"), 401, "unauthenticated")


def test_non_members_do_not_see_a_team(admin: User, alice: User, bob: User) -> None:
    team = new_team(alice)
    assert_error(bob.client.get(f"/teams/{team}"), 404, "not_found")
    assert_error(bob.client.get(f"/teams/{team}/members"), 404, "not_found")
    assert_error(bob.client.get(f"/teams/{team}/projects"), 404, "not_found")
    assert_error(bob.client.patch(f"/teams/{team}", json={"description": "x"}), 404, "not_found")
    assert_error(alice.client.get(f"/teams/{unique('none')}"), 404, "not_found")
    assert admin.client.get(f"/teams/{team}").status_code == 200


def test_team_admin_renames_and_describes(alice: User, bob: User) -> None:
    team = new_team(alice)
    add_member(alice, team, bob, "R")
    new_name = unique("renamed")
    changed = alice.client.patch(
        f"/teams/{team}", json={"name": new_name, "description": "a new start"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == new_name
    assert changed.json()["description"] == "a new start"
    assert_error(alice.client.get(f"/teams/{team}"), 404, "not_found")
    assert bob.client.get(f"/teams/{new_name}").json()["description"] == "a new start"
    assert bob.client.get("/me").json()["teams"] == {new_name: "R"}


@pytest.mark.parametrize("level", ["R", "X", "W"])
def test_below_team_admin_cannot_patch_team(alice: User, bob: User, level: str) -> None:
    team = new_team(alice)
    add_member(alice, team, bob, level)
    response = bob.client.patch(f"/teams/{team}", json={"description": "hijacked"})
    assert_error(response, 403, "forbidden")
    assert alice.client.get(f"/teams/{team}").json()["description"] == ""


def test_set_member_adds_and_changes_level(alice: User, bob: User) -> None:
    team = new_team(alice)
    added = alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "W"})
    assert added.status_code == 200, added.text
    assert added.json()["team"] == team
    assert added.json()["username"] == bob.username
    assert added.json()["level"] == "W"
    assert levels(alice.client, team) == {alice.username: "A", bob.username: "W"}
    assert bob.client.get("/me").json()["teams"] == {team: "W"}

    changed = alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "X"})
    assert changed.status_code == 200, changed.text
    assert levels(bob.client, team) == {alice.username: "A", bob.username: "X"}


def test_set_member_rules(alice: User, bob: User, make_user: MakeUser) -> None:
    team = new_team(alice)
    carol = make_user("carol")
    path = f"/teams/{team}/members/{carol.username}"
    for bad in ("Z", "w", "", "admin"):
        assert_error(alice.client.put(path, json={"level": bad}), 400, "invalid")
    assert_error(alice.client.put(path, json={}), 400, "invalid")
    nobody = f"/teams/{team}/members/{unique('nobody')}"
    assert_error(alice.client.put(nobody, json={"level": "R"}), 404, "not_found")
    unknown_team = f"/teams/{unique('none')}/members/{carol.username}"
    assert_error(alice.client.put(unknown_team, json={"level": "R"}), 404, "not_found")

    # Only team admins manage members: W is not enough, and strangers see no team.
    add_member(alice, team, bob, "W")
    assert_error(bob.client.put(path, json={"level": "R"}), 403, "forbidden")
    assert_error(
        bob.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "A"}),
        403,
        "forbidden",
    )
    assert_error(carol.client.put(path, json={"level": "A"}), 404, "not_found")
    assert levels(alice.client, team) == {alice.username: "A", bob.username: "W"}


def test_remove_member_and_leave(alice: User, bob: User, make_user: MakeUser) -> None:
    team = new_team(alice)
    carol = make_user("carol")
    add_member(alice, team, bob, "W")
    add_member(alice, team, carol, "R")

    # Removing someone else takes level A.
    assert_error(bob.client.delete(f"/teams/{team}/members/{carol.username}"), 403, "forbidden")
    # Anyone may leave.
    assert carol.client.delete(f"/teams/{team}/members/{carol.username}").status_code == 204
    assert_error(carol.client.get(f"/teams/{team}"), 404, "not_found")
    assert carol.client.get("/me").json()["teams"] == {}

    removed = alice.client.delete(f"/teams/{team}/members/{bob.username}")
    assert removed.status_code == 204, removed.text
    assert_error(bob.client.get(f"/teams/{team}"), 404, "not_found")
    assert levels(alice.client, team) == {alice.username: "A"}

    gone = alice.client.delete(f"/teams/{team}/members/{bob.username}")
    assert_error(gone, 404, "not_found")
    nobody = alice.client.delete(f"/teams/{team}/members/{unique('nobody')}")
    assert_error(nobody, 404, "not_found")


def test_last_team_admin_is_kept(alice: User, bob: User) -> None:
    team = new_team(alice)
    me = f"/teams/{team}/members/{alice.username}"
    assert_error(alice.client.delete(me), 409, "conflict")
    assert_error(alice.client.put(me, json={"level": "W"}), 409, "conflict")
    assert levels(alice.client, team) == {alice.username: "A"}

    add_member(alice, team, bob, "A")
    stepped = alice.client.put(me, json={"level": "W"})
    assert stepped.status_code == 200, stepped.text
    assert stepped.json()["level"] == "W"
    theirs = f"/teams/{team}/members/{bob.username}"
    assert_error(bob.client.delete(theirs), 409, "conflict")
    assert_error(bob.client.put(theirs, json={"level": "R"}), 409, "conflict")
    assert levels(bob.client, team) == {alice.username: "W", bob.username: "A"}
    # Setting A again on the last admin is no demotion.
    assert bob.client.put(theirs, json={"level": "A"}).status_code == 200


def test_delete_empty_team(alice: User, bob: User) -> None:
    team = new_team(alice)
    add_member(alice, team, bob, "W")
    new_project(bob, team)
    assert_error(bob.client.delete(f"/teams/{team}"), 403, "forbidden")
    deleted = alice.client.delete(f"/teams/{team}")
    assert deleted.status_code == 204, deleted.text
    assert_error(alice.client.get(f"/teams/{team}"), 404, "not_found")
    assert bob.client.get("/me").json()["teams"] == {}
    assert team not in {t["name"] for t in alice.client.get("/teams").json()}
    # The name is free again.
    assert alice.client.post("/teams", json={"name": team}).status_code == 201


def test_delete_team_with_dataset_is_409(alice: User) -> None:
    team = new_team(alice)
    project = new_project(alice, team)
    name = unique("ds")
    created = alice.client.post("/datasets", json={"name": name, "project": f"{team}/{project}"})
    assert created.status_code == 201, created.text

    assert_error(alice.client.delete(f"/teams/{team}"), 409, "conflict")
    assert alice.client.get(f"/teams/{team}").status_code == 200

    moved = alice.client.patch(f"/datasets/{alice.username}/{name}", json={"project": None})
    assert moved.status_code == 200, moved.text
    assert moved.json()["project"] is None
    assert alice.client.delete(f"/teams/{team}").status_code == 204


# --- projects ---------------------------------------------------------------------------------


def test_project_lifecycle(alice: User, bob: User) -> None:
    team = new_team(alice)
    add_member(alice, team, bob, "W")
    first, second = unique("p1"), unique("p2")
    created = bob.client.post(
        f"/teams/{team}/projects", json={"name": first, "description": "first one"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["team"] == team and body["name"] == first
    assert body["description"] == "first one"
    assert bob.client.post(f"/teams/{team}/projects", json={"name": second}).status_code == 201

    listed = alice.client.get(f"/teams/{team}/projects")
    assert listed.status_code == 200, listed.text
    assert [p["name"] for p in listed.json()] == sorted([first, second])
    got = alice.client.get(f"/teams/{team}/projects/{first}")
    assert got.status_code == 200 and got.json() == body

    renamed_to = unique("p3")
    patched = bob.client.patch(
        f"/teams/{team}/projects/{first}", json={"name": renamed_to, "description": "renamed"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == renamed_to
    assert patched.json()["description"] == "renamed"
    assert patched.json()["id"] == body["id"]
    assert_error(alice.client.get(f"/teams/{team}/projects/{first}"), 404, "not_found")
    clash = bob.client.patch(f"/teams/{team}/projects/{renamed_to}", json={"name": second})
    assert_error(clash, 409, "conflict")

    assert bob.client.delete(f"/teams/{team}/projects/{renamed_to}").status_code == 204
    assert_error(alice.client.get(f"/teams/{team}/projects/{renamed_to}"), 404, "not_found")
    assert [p["name"] for p in alice.client.get(f"/teams/{team}/projects").json()] == [second]
    gone = bob.client.delete(f"/teams/{team}/projects/{renamed_to}")
    assert_error(gone, 404, "not_found")


def test_project_rights(alice: User, bob: User, make_user: MakeUser) -> None:
    team = new_team(alice)
    project = new_project(alice, team)
    carol = make_user("carol")
    add_member(alice, team, bob, "R")
    projects = f"/teams/{team}/projects"

    assert_error(bob.client.post(projects, json={"name": unique("p")}), 403, "forbidden")
    assert_error(
        bob.client.patch(f"{projects}/{project}", json={"description": "x"}), 403, "forbidden"
    )
    assert_error(bob.client.delete(f"{projects}/{project}"), 403, "forbidden")
    assert bob.client.get(f"{projects}/{project}").status_code == 200
    assert [p["name"] for p in bob.client.get(projects).json()] == [project]

    assert_error(carol.client.post(projects, json={"name": unique("p")}), 404, "not_found")
    assert_error(carol.client.get(f"{projects}/{project}"), 404, "not_found")

    assert_error(alice.client.post(projects, json={"name": project}), 409, "conflict")
    assert_error(alice.client.post(projects, json={"name": "a b"}), 400, "invalid")
    assert_error(alice.client.get(f"{projects}/{unique('none')}"), 404, "not_found")
    assert [p["name"] for p in alice.client.get(projects).json()] == [project]


def test_same_project_name_in_two_teams(alice: User) -> None:
    first, second = new_team(alice), new_team(alice)
    name = new_project(alice, first)
    again = alice.client.post(f"/teams/{second}/projects", json={"name": name})
    assert again.status_code == 201, again.text
    assert again.json()["team"] == second


def test_delete_project_with_dataset_is_409(alice: User) -> None:
    team = new_team(alice)
    project = new_project(alice, team)
    created = alice.client.post(
        "/datasets", json={"name": unique("ds"), "project": f"{team}/{project}"}
    )
    assert created.status_code == 201, created.text
    assert_error(alice.client.delete(f"/teams/{team}/projects/{project}"), 409, "conflict")
    assert alice.client.get(f"/teams/{team}/projects/{project}").status_code == 200


def test_team_datasets_follow_membership_levels(
    alice: User, bob: User, make_user: MakeUser
) -> None:
    team = new_team(alice)
    project = new_project(alice, team)
    carol, dave = make_user("carol"), make_user("dave")
    add_member(alice, team, bob, "W")
    add_member(alice, team, carol, "R")
    ref = f"{team}/{project}"

    name = unique("ds")
    created = bob.client.post("/datasets", json={"name": name, "project": ref})
    assert created.status_code == 201, created.text
    assert created.json()["project"] == ref
    assert created.json()["visibility"] == "private"
    assert created.json()["owner"] == bob.username
    path = f"/datasets/{bob.username}/{name}"
    put = bob.client.put(f"{path}/files/readme.txt", content=b"team data")
    assert put.status_code == 201, put.text

    # Team members read the private dataset; strangers do not learn it exists.
    for member in (alice, carol):
        assert member.client.get(path).status_code == 200
        got = member.client.get(f"{path}/files/readme.txt")
        assert got.status_code == 200 and got.content == b"team data"
        listed = member.client.get("/datasets", params={"owner": bob.username}).json()["items"]
        assert name in [d["name"] for d in listed]
    assert_error(dave.client.get(path), 404, "not_found")
    assert name not in [
        d["name"]
        for d in dave.client.get("/datasets", params={"owner": bob.username}).json()["items"]
    ]

    # R reads only; W (alice is A, which includes W) writes.
    assert_error(carol.client.put(f"{path}/files/x.txt", content=b"no"), 403, "forbidden")
    assert_error(carol.client.put(f"{path}/files/readme.txt", content=b"no"), 403, "forbidden")
    written = alice.client.put(f"{path}/files/x.txt", content=b"yes")
    assert written.status_code == 201, written.text
    assert bob.client.get(f"{path}/files/x.txt").content == b"yes"
    assert bob.client.get(f"{path}/files/readme.txt").content == b"team data"

    # Only W members may put new datasets into the project.
    denied = carol.client.post("/datasets", json={"name": unique("ds"), "project": ref})
    assert_error(denied, 403, "forbidden")
    hidden = dave.client.post("/datasets", json={"name": unique("ds"), "project": ref})
    assert_error(hidden, 404, "not_found")
    assert_error(
        bob.client.post("/datasets", json={"name": unique("ds"), "project": team}), 400, "invalid"
    )

    # Leaving the team ends access.
    assert carol.client.delete(f"/teams/{team}/members/{carol.username}").status_code == 204
    assert_error(carol.client.get(path), 404, "not_found")


# --- licences ---------------------------------------------------------------------------------

MIT = {
    "id": 11,
    "name": "MIT",
    "url": "https://opensource.org/licenses/MIT",
    "permissions": ["Commercial use", "Distribution", "Modification", "Private use"],
    "conditions": ["License and copyright notice"],
    "limitations": ["Warranty", "Liability"],
    "domains": ["Software", "Models"],
}


def test_licence_list(anon: httpx.Client) -> None:
    response = anon.get("/licences")
    assert response.status_code == 200, response.text
    licences = response.json()
    assert len(licences) == 14
    assert [lic["id"] for lic in licences] == list(range(1, 15))
    assert licences[10] == MIT
    for lic in licences:
        assert set(lic) == {
            "id",
            "name",
            "url",
            "permissions",
            "conditions",
            "limitations",
            "domains",
        }
        for key in ("permissions", "conditions", "limitations", "domains"):
            assert isinstance(lic[key], list)
    assert len({lic["name"] for lic in licences}) == 14


@pytest.mark.parametrize("key", ["MIT", "11", "mit", "Mit"])
def test_licence_by_id_or_name(anon: httpx.Client, alice: User, key: str) -> None:
    response = anon.get(f"/licences/{key}")
    assert response.status_code == 200, response.text
    assert response.json() == MIT
    assert alice.client.get(f"/licences/{key}").json() == MIT


@pytest.mark.parametrize("key", ["nope", "999", "0", "MIT2"])
def test_unknown_licence_is_404(anon: httpx.Client, key: str) -> None:
    assert_error(anon.get(f"/licences/{key}"), 404, "not_found")


def test_licence_name_with_space(anon: httpx.Client) -> None:
    response = anon.get("/licences/apache 2.0")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == 2
    assert response.json()["name"] == "Apache 2.0"
