"""Names do not impersonate: new user and team names are ASCII (no look-alike letters from
other scripts, fullwidth forms or combining marks), unique across users and teams whatever
their case, and never a reserved name, in the native API, Pigeon Optics' registration and
the CLI. Names made before these rules stay usable."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dataloft.cli.main import app
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from dataloft.core.names import RESERVED_NAMES
from tests.conftest import User
from tests.support import LiveServer, unique

PASSWORD = "password-names-1"
RESERVED = ["admin", "Admin", "ROOT", "system", "Administrator", "support", "security", "api"]
RESERVED += ["www", "Test", "guest", "owner", "dev"]


def cyrillic_a(name: str) -> str:
    return name.replace("a", "\u0430")  # CYRILLIC SMALL LETTER A, drawn like "a"


def fullwidth(name: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in name)


def combining(name: str) -> str:
    return name + "\u0301"  # COMBINING ACUTE ACCENT: "alice" with a mark over its "e"


LOOK_ALIKES: list[Callable[[str], str]] = [cyrillic_a, fullwidth, combining]


def refused(response: httpx.Response, status: int) -> str:
    """Assert a native API error of this status; its message."""
    assert response.status_code == status, (response.status_code, response.text)
    message: str = response.json()["error"]["message"]
    return message


# --- the native API --------------------------------------------------------------------------


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_look_alike_names_are_refused(
    admin: User, alice: User, bob: User, look_alike: Callable[[str], str]
) -> None:
    name = look_alike(alice.username)
    assert name != alice.username
    created = admin.client.post("/users", json={"username": name, "password": PASSWORD})
    assert "ASCII letters" in refused(created, 400)
    assert "ASCII letters" in refused(bob.client.post("/teams", json={"name": name}), 400)
    assert admin.client.get(f"/users/{name}").status_code == 404


def test_names_differing_in_case_are_one_name(admin: User, alice: User, bob: User) -> None:
    for variant in (alice.username.upper(), alice.username.capitalize()):
        created = admin.client.post("/users", json={"username": variant, "password": PASSWORD})
        assert "already taken" in refused(created, 409)
        assert "already taken" in refused(bob.client.post("/teams", json={"name": variant}), 409)
    team = unique("birders")
    assert bob.client.post("/teams", json={"name": team}).status_code == 201
    created = admin.client.post("/users", json={"username": team.upper(), "password": PASSWORD})
    refused(created, 409)
    refused(alice.client.post("/teams", json={"name": team.title()}), 409)
    # Renames follow the same rule; a team may change the case of its own name.
    other = unique("other")
    assert bob.client.post("/teams", json={"name": other}).status_code == 201
    refused(bob.client.patch(f"/teams/{other}", json={"name": team.upper()}), 409)
    refused(bob.client.patch(f"/teams/{other}", json={"name": alice.username.upper()}), 409)
    recased = bob.client.patch(f"/teams/{other}", json={"name": other.upper()})
    assert recased.status_code == 200, recased.text
    assert recased.json()["name"] == other.upper()
    # ...and its old name is free again, its new one taken.
    taken = admin.client.post("/users", json={"username": other, "password": PASSWORD})
    refused(taken, 409)


def test_concurrent_claims_of_one_name_leave_one_owner(admin: User, bob: User) -> None:
    """Users and teams are two tables: whichever way concurrent creations interleave, one
    of them gets the name and the others a 409 (never a 500, never two owners)."""
    name = unique("race")
    variants = [name, name.upper(), name.capitalize(), name.swapcase(), name.title()] * 2

    def claim(index: int) -> int:
        variant = variants[index]
        if index % 2:
            return bob.client.post("/teams", json={"name": variant}).status_code
        body = {"username": variant, "password": PASSWORD}
        return admin.client.post("/users", json=body).status_code

    with ThreadPoolExecutor(len(variants)) as pool:
        statuses = sorted(pool.map(claim, range(len(variants))))
    assert statuses == [201] + [409] * (len(variants) - 1)


def test_a_renamed_team_frees_its_old_name(admin: User, bob: User) -> None:
    old, new = unique("old"), unique("new")
    assert bob.client.post("/teams", json={"name": old}).status_code == 201
    assert bob.client.patch(f"/teams/{old}", json={"name": new}).status_code == 200
    made = admin.client.post("/users", json={"username": old.upper(), "password": PASSWORD})
    assert made.status_code == 201, made.text
    refused(admin.client.post("/users", json={"username": new, "password": PASSWORD}), 409)


def test_a_deleted_team_frees_its_name(admin: User, bob: User) -> None:
    team = unique("gone")
    assert bob.client.post("/teams", json={"name": team}).status_code == 201
    assert bob.client.delete(f"/teams/{team}").status_code == 204
    made = admin.client.post("/users", json={"username": team.upper(), "password": PASSWORD})
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("name", RESERVED)
def test_reserved_names_are_refused(admin: User, bob: User, name: str) -> None:
    created = admin.client.post("/users", json={"username": name, "password": PASSWORD})
    assert "reserved" in refused(created, 400)
    assert "reserved" in refused(bob.client.post("/teams", json={"name": name}), 400)
    team = unique("team")
    assert bob.client.post("/teams", json={"name": team}).status_code == 201
    assert "reserved" in refused(bob.client.patch(f"/teams/{team}", json={"name": name}), 400)


def test_the_first_admin_keeps_its_reserved_name(admin: User) -> None:
    me = admin.client.get("/me")
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "admin"


def test_projects_are_ascii_too_but_not_owner_names(alice: User) -> None:
    team = unique("team")
    assert alice.client.post("/teams", json={"name": team}).status_code == 201
    projects = f"/teams/{team}/projects"
    refused(alice.client.post(projects, json={"name": cyrillic_a("data")}), 400)
    # Projects live inside their team: an owner's name or a reserved word is fine there.
    for name in (alice.username.upper(), "test"):
        made = alice.client.post(projects, json={"name": name})
        assert made.status_code == 201, made.text


# --- Pigeon Optics ---------------------------------------------------------------------------


def register(server: LiveServer, name: str) -> httpx.Response:
    form = {"name": name, "password": PASSWORD, "register": "1"}
    with httpx.Client(base_url=server.url, headers={"Accept": "application/json"}) as client:
        response = client.post("/auth", data=form)
    assert "dataloft_session" not in response.headers.get("set-cookie", "")
    return response


def pigeon_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["stack"] is False
    message: str = body["error"]
    return message


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_pigeon_registration_refuses_look_alikes(
    server: LiveServer, alice: User, look_alike: Callable[[str], str]
) -> None:
    message = pigeon_error(register(server, look_alike(alice.username)), 400)
    assert "ASCII letters" in message


def test_pigeon_registration_refuses_case_variants(
    server: LiveServer, alice: User, bob: User
) -> None:
    assert "already taken" in pigeon_error(register(server, alice.username.upper()), 409)
    team = unique("flock")
    assert bob.client.post("/teams", json={"name": team}).status_code == 201
    assert "already taken" in pigeon_error(register(server, team.upper()), 409)


@pytest.mark.parametrize("name", ["Admin", "administrator", "SECURITY", "www", "api", "Root"])
def test_pigeon_registration_refuses_reserved_names(server: LiveServer, name: str) -> None:
    assert "reserved" in pigeon_error(register(server, name), 400)


def test_pigeon_registration_of_a_plain_name_works(server: LiveServer) -> None:
    form = {"name": unique("carol"), "password": PASSWORD, "register": "1"}
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/auth", data=form).status_code == 303


def test_pigeon_uses_the_core_list() -> None:
    from dataloft.api.pigeon.auth import RESERVED_AUTHORS

    assert RESERVED_AUTHORS is RESERVED_NAMES
    forbidden_author_names = {"system", "admin", "owner", "root", "user", "author", "creator"}
    forbidden_author_names |= {"test", "support", "guest", "operator", "debug", "dev"}
    assert forbidden_author_names <= RESERVED_NAMES


# --- the CLI and what stays ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [("Root", "reserved"), ("SUPPORT", "reserved"), ("\u0430dmin2", "ASCII letters")],
)
def test_the_cli_refuses_them_too(
    database_url: str, tmp_path: Path, alice: User, name: str, message: str
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATALOFT_")}
    env.update(
        DATALOFT_DATABASE_URL=database_url,
        DATALOFT_DATA_DIR=str(tmp_path / "data"),
        DATALOFT_BLOB_URL=f"file://{tmp_path / 'blobs'}",
        DATALOFT_PASSWORD_HASH_MEMORY_KIB="8",
        DATALOFT_PASSWORD_HASH_PASSES="1",
    )
    changes: dict[str, str | None] = {key: None for key in os.environ if key not in env}
    changes.update(env)
    for args in (
        ["user", "create", name, "--password", PASSWORD],
        ["team", "create", name, "--admin", alice.username],
    ):
        result = CliRunner().invoke(app, args, env=changes, prog_name="dataloft")
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: ")
        assert message in result.stderr


def test_names_made_before_the_rules_stay_usable(loft: Loft, server: LiveServer) -> None:
    """An account named before names were ASCII-only (written straight to the database,
    as an older dataloft would have) still logs in, owns datasets and is found by name."""
    from dataloft.db.models import User as UserRow

    name = "\u00e9lise" + unique()
    with loft.db.write() as session:
        session.add(UserRow(username=name, password_hash=loft.passwords.hash(PASSWORD)))
    token = loft.auth.create_token(SYSTEM, username=name, name="old").secret
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url + "/loft/v1", headers=headers) as client:
        assert client.get("/me").json()["user"]["username"] == name
        created = client.post("/datasets", json={"name": "notes"})
        assert created.status_code == 201, created.text
        assert client.get(f"/datasets/{name}/notes").status_code == 200
    # Dialects that spell the owner in the path look it up, not make it.
    algorithmia = {"Authorization": f"Simple {token}"}
    with httpx.Client(base_url=server.url, headers=algorithmia) as client:
        listed = client.get(f"/v1/data/{name}/notes")
        assert listed.status_code == 200, listed.text
        assert client.get(f"/v1/data/{name}").status_code == 200
