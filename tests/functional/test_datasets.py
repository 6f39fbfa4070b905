"""Datasets over the native API: create, read, list, update, delete/restore/purge, history."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import User
from tests.support import unique

HEX32 = re.compile(r"^[0-9a-f]{32}$")
DATASET_FIELDS = {
    "owner",
    "name",
    "version",
    "visibility",
    "created",
    "updated",
    "uid",
    "description",
    "tags",
    "licence",
    "project",
    "metadata",
}


def create(client: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/datasets", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def settled(response: httpx.Response) -> httpx.Response:
    """On a 500, give the server thread time to finish logging its traceback before the
    test fails: on Python 3.11 both that and pytest's failure report call ast.parse, which
    is not thread-safe there and can crash the whole pytest session."""
    if response.status_code >= 500:
        time.sleep(0.5)
    return response


def list_all(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/datasets", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


# --- create and read -------------------------------------------------------------------------


def test_create_returns_the_dataset_with_defaults_and_location(alice: User) -> None:
    name = unique("ds")
    response = alice.client.post("/datasets", json={"name": name})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/loft/v1/datasets/{alice.username}/{name}"
    body = response.json()
    assert set(body) >= DATASET_FIELDS
    assert body["owner"] == alice.username
    assert body["name"] == name
    assert body["version"] == 0
    assert body["visibility"] == "private"
    assert body["description"] == ""
    assert body["tags"] == []
    assert body["licence"] is None
    assert body["project"] is None
    assert body["metadata"] == {}
    assert body["file_count"] == 0
    assert body["total_bytes"] == 0
    assert body["deleted_at"] is None
    assert HEX32.match(body["uid"]), body["uid"]
    created = datetime.fromisoformat(body["created"])
    updated = datetime.fromisoformat(body["updated"])
    assert created.tzinfo is not None
    assert updated >= created

    got = alice.client.get(f"/datasets/{alice.username}/{name}")
    assert got.status_code == 200
    assert got.json() == body


def test_create_with_all_fields(alice: User) -> None:
    name = unique("full")
    body = create(
        alice.client,
        name,
        description="Some words",
        tags=["x", "y", "x"],
        visibility="public",
        licence="MIT",
        metadata={"a": {"b": [1, 2]}, "c": None},
    )
    assert body["description"] == "Some words"
    assert body["tags"] == ["x", "y"]  # duplicates collapse, order kept
    assert body["visibility"] == "public"
    assert body["licence"] == "MIT"
    assert body["metadata"] == {"a": {"b": [1, 2]}, "c": None}
    assert alice.client.get(f"/datasets/{alice.username}/{name}").json() == body


def test_two_datasets_get_distinct_uids(alice: User) -> None:
    first = create(alice.client, unique("a"))
    second = create(alice.client, unique("b"))
    assert first["uid"] != second["uid"]


def test_duplicate_name_is_a_conflict(alice: User, bob: User) -> None:
    name = unique("dup")
    create(alice.client, name)
    again = alice.client.post("/datasets", json={"name": name, "description": "other"})
    assert again.status_code == 409, again.text
    assert error_code(again) == "conflict"
    # The name is per owner: bob may use it.
    assert create(bob.client, name)["owner"] == bob.username


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "a/b", "a\\b", "bad\x01name", "tab\tname", " padded", "x" * 251],
    ids=["empty", "dot", "dotdot", "slash", "backslash", "control", "tab", "space", "251"],
)
def test_invalid_names_are_rejected(alice: User, name: str) -> None:
    response = alice.client.post("/datasets", json={"name": name})
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid"


def test_names_up_to_250_characters_and_unusual_characters_work(alice: User) -> None:
    long_name = unique("L") + "y" * (250 - 11)
    assert len(long_name) == 250
    assert create(alice.client, long_name)["name"] == long_name
    wide = unique("W") + "\U0001f600" * (250 - 11)  # 250 characters, 4 bytes each in UTF-8
    assert create(alice.client, wide)["name"] == wide
    assert alice.client.get(f"/datasets/{alice.username}/{quote(wide)}").json()["name"] == wide
    odd = unique("odd") + " with spaces é %_?#"
    assert create(alice.client, odd)["name"] == odd
    # '?' and '#' are URL syntax, so the name is quoted in the path.
    got = alice.client.get(f"/datasets/{alice.username}/{quote(odd, safe='')}")
    assert got.status_code == 200, got.text
    assert got.json()["name"] == odd


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "colour": "red"},
        {"name": "x", "version": 3},
        {"name": "x", "uid": "0" * 32},
        {"description": "no name"},
        {"name": "x", "visibility": "secret"},
        {"name": "x", "tags": "not-a-list"},
        {"name": "x", "metadata": [1, 2]},
    ],
    ids=["unknown", "version", "uid", "missing-name", "visibility", "tags", "metadata"],
)
def test_malformed_create_bodies_are_rejected(alice: User, body: dict[str, Any]) -> None:
    if "name" in body:
        body = {**body, "name": unique("bad")}
    response = alice.client.post("/datasets", json=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid"


def test_tag_limits_on_create(alice: User) -> None:
    too_many = alice.client.post(
        "/datasets", json={"name": unique("t"), "tags": [f"t{i}" for i in range(101)]}
    )
    assert too_many.status_code == 400, too_many.text
    too_long = alice.client.post("/datasets", json={"name": unique("t"), "tags": ["z" * 101]})
    assert too_long.status_code == 400, too_long.text
    empty = alice.client.post("/datasets", json={"name": unique("t"), "tags": [""]})
    assert empty.status_code == 400, empty.text


def test_create_for_someone_else(alice: User, bob: User, make_user: Callable[..., User]) -> None:
    name = unique("for")
    refused = bob.client.post("/datasets", json={"name": name, "owner": alice.username})
    assert refused.status_code == 403, refused.text
    assert alice.client.get(f"/datasets/{alice.username}/{name}").status_code == 404

    site_admin = make_user("root", is_admin=True)
    made = site_admin.client.post("/datasets", json={"name": name, "owner": alice.username})
    assert made.status_code == 201, made.text
    assert made.json()["owner"] == alice.username
    assert made.headers["location"] == f"/loft/v1/datasets/{alice.username}/{name}"
    assert alice.client.get(f"/datasets/{alice.username}/{name}").status_code == 200

    nobody = site_admin.client.post("/datasets", json={"name": name, "owner": unique("ghost")})
    assert nobody.status_code == 404, nobody.text


def test_anonymous_may_not_create(anon: httpx.Client, alice: User) -> None:
    name = unique("anon")
    response = anon.post("/datasets", json={"name": name})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    for_alice = anon.post("/datasets", json={"name": name, "owner": alice.username})
    assert for_alice.status_code == 401, for_alice.text
    assert alice.client.get(f"/datasets/{alice.username}/{name}").status_code == 404


def test_licence_by_name_or_id(alice: User, anon: httpx.Client) -> None:
    mit = anon.get("/licences/MIT")
    assert mit.status_code == 200, mit.text
    mit_id = mit.json()["id"]
    assert create(alice.client, unique("l"), licence="mit")["licence"] == "MIT"
    assert create(alice.client, unique("l"), licence=mit_id)["licence"] == "MIT"
    assert create(alice.client, unique("l"), licence=str(mit_id))["licence"] == "MIT"
    assert create(alice.client, unique("l"), licence="CC-BY-4.0")["licence"] == "CC-BY-4.0"

    name = unique("l")
    unknown = alice.client.post("/datasets", json={"name": name, "licence": "No Such Licence"})
    assert unknown.status_code == 404, unknown.text
    bad_id = alice.client.post("/datasets", json={"name": name, "licence": 999_999})
    assert bad_id.status_code == 404, bad_id.text
    assert alice.client.get(f"/datasets/{alice.username}/{name}").status_code == 404


def test_project_on_create_needs_write_access_to_the_team(
    alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    team, project = unique("team"), unique("proj")
    assert alice.client.post("/teams", json={"name": team}).status_code == 201
    assert alice.client.post(f"/teams/{team}/projects", json={"name": project}).status_code == 201
    ref = f"{team}/{project}"
    reader = make_user("reader")
    assert (
        alice.client.put(f"/teams/{team}/members/{reader.username}", json={"level": "R"})
    ).status_code == 200

    assert bob.client.post("/datasets", json={"name": unique(), "project": ref}).status_code == 404
    refused = reader.client.post("/datasets", json={"name": unique(), "project": ref})
    assert refused.status_code == 403, refused.text
    missing = alice.client.post("/datasets", json={"name": unique(), "project": f"{team}/nope"})
    assert missing.status_code == 404, missing.text
    malformed = alice.client.post("/datasets", json={"name": unique(), "project": team})
    assert malformed.status_code == 400, malformed.text
    assert create(alice.client, unique("in"), project=ref)["project"] == ref


def test_unknown_dataset_and_owner_are_404(alice: User) -> None:
    assert alice.client.get(f"/datasets/{alice.username}/{unique('no')}").status_code == 404
    assert alice.client.get(f"/datasets/{unique('nobody')}/x").status_code == 404


@pytest.mark.parametrize("field", ["description", "tags", "metadata-value"])
def test_nul_characters_in_settings_never_cause_server_errors(alice: User, field: str) -> None:
    """Either refused as invalid or stored and returned intact, on every database."""
    choices: dict[str, dict[str, Any]] = {
        "description": {"description": "a\x00b"},
        "tags": {"tags": ["a\x00b"]},
        "metadata-value": {"metadata": {"k": "a\x00b"}},
    }
    values = choices[field]
    name = unique("nul")
    response = settled(alice.client.post("/datasets", json={"name": name, **values}))
    assert response.status_code in (201, 400), response.text
    if response.status_code == 201:
        got = alice.client.get(f"/datasets/{alice.username}/{name}").json()
        for key, value in values.items():
            assert got[key] == value


@pytest.mark.parametrize("where", ["q", "owner", "name"])
def test_nul_characters_in_lookups_find_nothing(alice: User, where: str) -> None:
    """A NUL in a lookup may be refused (400) or match nothing, but never match wrongly or
    fail the server."""
    # A dataset whose name ends with "a": a pattern cut short at the NUL ("%a") matches it.
    bait = create(alice.client, unique("bait") + "-a")["name"]
    if where == "name":
        response = settled(alice.client.get(f"/datasets/{alice.username}/{bait}%00b"))
        assert response.status_code in (400, 404), response.text
        return
    params = {"owner": alice.username, "q": "a\x00b"}
    if where == "owner":
        params = {"owner": alice.username + "\x00x"}
    response = settled(alice.client.get("/datasets", params=params))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json() == {"items": [], "next_cursor": None}


# --- listing ---------------------------------------------------------------------------------


def test_list_is_keyset_paginated_in_creation_order(make_user: Callable[..., User]) -> None:
    owner = make_user("pager")
    names = [f"p{i}-{unique()}" for i in range(7)]
    for name in names:
        create(owner.client, name)

    seen: list[str] = []
    page_sizes: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"owner": owner.username, "limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        response = owner.client.get("/datasets", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        page_sizes.append(len(body["items"]))
        seen.extend(item["name"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert page_sizes == [3, 3, 1]
    assert seen == names  # oldest first, no duplicates, nothing missing

    # A page that ends exactly at the last dataset has no next cursor.
    whole = owner.client.get("/datasets", params={"owner": owner.username, "limit": 7}).json()
    assert [d["name"] for d in whole["items"]] == names
    assert whole["next_cursor"] is None
    assert [d["name"] for d in list_all(owner.client, owner=owner.username)] == names


def test_list_filters(make_user: Callable[..., User]) -> None:
    owner = make_user("filt")
    other = make_user("filt")
    tag = unique("k")
    made = {
        "pct": create(owner.client, f"{tag}-100%-done"),
        "hundred": create(owner.client, f"{tag}-100x-done"),
        "under": create(owner.client, f"{tag}-a_b"),
        "axb": create(owner.client, f"{tag}-axb"),
        "mixed": create(owner.client, f"{tag}-MixedCase", visibility="public"),
        "desc": create(owner.client, unique("plain"), description=f"About {tag.upper()} and a/b"),
    }
    create(other.client, f"{tag}-elsewhere", visibility="public")

    def names(**params: Any) -> set[str]:
        return {d["name"] for d in list_all(owner.client, owner=owner.username, **params)}

    def expect(*keys: str) -> set[str]:
        return {made[k]["name"] for k in keys}

    assert names() == expect(*made)
    assert names(q="100%") == expect("pct")
    assert names(q="a_b") == expect("under")
    assert names(q="mixedcase") == expect("mixed")
    assert names(q="MIXEDcase") == expect("mixed")
    assert names(q=tag) == expect(*made)  # the last one matches by description only
    assert names(q="and a/b") == expect("desc")
    assert names(q="nothing-" + unique()) == set()
    assert names(visibility="public") == expect("mixed")
    assert names(visibility="private") == expect("pct", "hundred", "under", "axb", "desc")
    assert names(q="done", visibility="private") == expect("pct", "hundred")

    everyone = {d["name"] for d in list_all(owner.client, q=tag)}
    assert everyone == expect(*made) | {f"{tag}-elsewhere"}
    # Other people's private datasets stay out of q= searches.
    assert {d["name"] for d in list_all(other.client, q=tag)} == {
        made["mixed"]["name"],
        f"{tag}-elsewhere",
    }
    assert all(d["owner"] == owner.username for d in list_all(owner.client, owner=owner.username))


def test_search_finds_owners_and_tags(make_user: Callable[..., User]) -> None:
    finder = make_user("seeker")
    owner = make_user("ornith")
    topic = unique("wader")
    tagged = create(owner.client, unique("plain"), tags=["birds", topic], visibility="public")
    named = create(owner.client, unique("other"), visibility="public")
    hidden = create(owner.client, unique("hid"), tags=[topic])  # private

    def found(q: str) -> set[str]:
        return {d["name"] for d in list_all(finder.client, q=q)}

    assert found(topic) == {tagged["name"]}  # by a tag; never a private one
    assert found(topic.upper()) == {tagged["name"]}
    assert found(owner.username) == {tagged["name"], named["name"]}  # by the owner's name
    assert hidden["name"] in {d["name"] for d in list_all(owner.client, q=topic)}


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not a cursor!"},
        {"cursor": "WyJhIl0"},  # a valid cursor of the wrong type: ["a"]
        {"cursor": "e30"},  # {}
        {"limit": 0},
        {"limit": -1},
        {"limit": "many"},
        {"visibility": "secret"},
    ],
    ids=["garbage", "wrong-type", "not-a-list", "limit0", "negative", "nan", "visibility"],
)
def test_list_rejects_bad_parameters(alice: User, params: dict[str, Any]) -> None:
    response = alice.client.get("/datasets", params=params)
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid"


def forged_cursor(*key: Any) -> str:
    """A well-formed cursor holding any key, as a client could make one."""
    raw = json.dumps(list(key)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("key", [2**31, 2**63, -(2**70)], ids=["2^31", "2^63", "-2^70"])
def test_forged_dataset_cursor_out_of_range(alice: User, key: int) -> None:
    """Cursors are opaque, but clients can send anything: an integer outside the column's
    range is invalid input (400) or merely past the end (200), never a server error."""
    create(alice.client, unique("c"))
    params = {"owner": alice.username, "cursor": forged_cursor(key)}
    response = settled(alice.client.get("/datasets", params=params))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        expected = [] if key > 0 else [alice.username]
        assert [d["owner"] for d in response.json()["items"]] == expected


# --- update ----------------------------------------------------------------------------------


def test_patch_contents_settings(alice: User, dataset: str) -> None:
    changed = alice.client.patch(
        dataset,
        json={
            "description": "new words",
            "tags": ["b", "a", "b"],
            "metadata": {"a": {"x": 1, "y": 2}, "b": 1},
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["description"] == "new words"
    assert body["tags"] == ["b", "a"]
    assert body["metadata"] == {"a": {"x": 1, "y": 2}, "b": 1}
    assert datetime.fromisoformat(body["updated"]) > datetime.fromisoformat(body["created"])

    merged = alice.client.patch(
        dataset, json={"metadata": {"a": {"y": None, "z": {"deep": True}}, "b": None, "c": [1]}}
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["metadata"] == {"a": {"x": 1, "z": {"deep": True}}, "c": [1]}
    assert merged.json()["description"] == "new words"  # untouched fields stay
    assert merged.json()["tags"] == ["b", "a"]

    # A field left out is untouched; an empty patch changes nothing.
    same = alice.client.patch(dataset, json={})
    assert same.status_code == 200, same.text
    assert same.json()["metadata"] == {"a": {"x": 1, "z": {"deep": True}}, "c": [1]}
    assert alice.client.get(dataset).json()["metadata"] == same.json()["metadata"]


def test_patch_licence(alice: User, dataset: str) -> None:
    assert alice.client.patch(dataset, json={"licence": "GPL3"}).json()["licence"] == "GPL3"
    unknown = alice.client.patch(dataset, json={"licence": "nope-" + unique()})
    assert unknown.status_code == 404, unknown.text
    assert alice.client.get(dataset).json()["licence"] == "GPL3"
    cleared = alice.client.patch(dataset, json={"licence": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["licence"] is None


@pytest.mark.parametrize(
    "patch",
    [
        {"tags": "a,b"},
        {"tags": [f"t{i}" for i in range(101)]},
        {"tags": ["t" * 101]},
        {"tags": [1, 2]},
        {"owner": "someone"},
        {"version": 5},
        {"visibility": "hidden"},
        {"name": ".."},
        {"name": "a/b"},
        {"name": "x" * 251},
        {"metadata": "text"},
    ],
    ids=[
        "tags-str",
        "tags-many",
        "tag-long",
        "tags-int",
        "owner",
        "version",
        "visibility",
        "name-dotdot",
        "name-slash",
        "name-long",
        "metadata-str",
    ],
)
def test_patch_rejects_invalid_changes(alice: User, dataset: str, patch: dict[str, Any]) -> None:
    before = alice.client.get(dataset).json()
    response = alice.client.patch(dataset, json=patch)
    assert response.status_code == 400, response.text
    assert alice.client.get(dataset).json() == before


def test_null_name_in_a_patch_is_rejected(alice: User, dataset: str) -> None:
    # The schema admits null for every PATCH field; a null name must not become "None".
    response = alice.client.patch(dataset, json={"name": None})
    assert response.status_code == 400, response.text
    assert alice.client.get(dataset).status_code == 200
    assert alice.client.get(f"/datasets/{alice.username}/None").status_code == 404


def test_rename(alice: User, dataset: str) -> None:
    put = alice.client.put(f"{dataset}/files/keep.txt", content=b"kept")
    assert put.status_code == 201, put.text
    taken = unique("taken")
    create(alice.client, taken)

    clash = alice.client.patch(dataset, json={"name": taken})
    assert clash.status_code == 409, clash.text
    assert alice.client.get(dataset).status_code == 200

    new_name = unique("renamed")
    renamed = alice.client.patch(dataset, json={"name": new_name})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == new_name
    assert renamed.json()["version"] == 1
    new_path = f"/datasets/{alice.username}/{new_name}"
    assert alice.client.get(dataset).status_code == 404
    assert alice.client.get(new_path).json()["uid"] == renamed.json()["uid"]
    assert alice.client.get(f"{new_path}/files/keep.txt").content == b"kept"
    assert alice.client.get(f"{dataset}/files/keep.txt").status_code == 404
    # The old name is free again.
    assert create(alice.client, dataset.rsplit("/", 1)[1])["version"] == 0


def test_visibility_and_name_need_admin_rights(alice: User, bob: User) -> None:
    team, project = unique("team"), unique("proj")
    assert alice.client.post("/teams", json={"name": team}).status_code == 201
    member = alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "W"})
    assert member.status_code == 200, member.text
    assert alice.client.post(f"/teams/{team}/projects", json={"name": project}).status_code == 201
    name = unique("shared")
    create(alice.client, name, project=f"{team}/{project}")
    path = f"/datasets/{alice.username}/{name}"

    described = bob.client.patch(path, json={"description": "by bob", "tags": ["w"]})
    assert described.status_code == 200, described.text
    for patch in ({"visibility": "public"}, {"name": unique("stolen")}, {"project": None}):
        refused = bob.client.patch(path, json=patch)
        assert refused.status_code == 403, (patch, refused.text)
    # Admin fields mixed with write fields: all or nothing.
    mixed = bob.client.patch(path, json={"description": "sneaky", "visibility": "public"})
    assert mixed.status_code == 403, mixed.text
    after = alice.client.get(path).json()
    assert (after["visibility"], after["name"], after["description"]) == (
        "private",
        name,
        "by bob",
    )
    assert after["project"] == f"{team}/{project}"

    public = alice.client.patch(path, json={"visibility": "public"})
    assert public.status_code == 200, public.text
    assert public.json()["visibility"] == "public"


def test_patch_by_stranger_and_anonymous(
    alice: User, bob: User, anon: httpx.Client, dataset: str
) -> None:
    assert bob.client.patch(dataset, json={"description": "x"}).status_code == 404
    assert anon.patch(dataset, json={"description": "x"}).status_code == 404
    assert alice.client.patch(dataset, json={"visibility": "public"}).status_code == 200
    assert bob.client.patch(dataset, json={"description": "x"}).status_code == 403
    assert anon.patch(dataset, json={"description": "x"}).status_code == 401
    assert alice.client.get(dataset).json()["description"] == ""


# --- delete, restore, purge ------------------------------------------------------------------


def test_soft_delete_restore_and_name_reuse(alice: User, bob: User, anon: httpx.Client) -> None:
    name = unique("trash")
    path = f"/datasets/{alice.username}/{name}"
    original = create(alice.client, name, description="the first")
    for content in (b"one", b"two!"):
        assert alice.client.put(f"{path}/files/f.txt", content=content).status_code in (200, 201)

    assert bob.client.delete(path).status_code == 404
    deleted = alice.client.delete(path)
    assert deleted.status_code == 204, deleted.text
    assert alice.client.get(path).status_code == 404
    assert alice.client.get(f"{path}/files/f.txt").status_code == 404
    assert alice.client.get(f"{path}/versions").status_code == 404
    assert name not in {d["name"] for d in list_all(alice.client, owner=alice.username)}
    assert alice.client.delete(path).status_code == 404

    trash = list_all(alice.client, owner=alice.username, deleted="true")
    assert [d["uid"] for d in trash if d["name"] == name] == [original["uid"]]
    assert next(d for d in trash if d["name"] == name)["deleted_at"] is not None
    assert name not in {d["name"] for d in list_all(bob.client, deleted="true")}
    assert anon.get("/datasets", params={"deleted": "true"}).status_code == 401

    reused = create(alice.client, name, description="the second")
    assert reused["uid"] != original["uid"]
    assert reused["version"] == 0
    assert alice.client.get(f"{path}/files/f.txt").status_code == 404

    blocked = alice.client.post(f"{path}/restore")
    assert blocked.status_code == 409, blocked.text
    assert alice.client.get(path).json()["uid"] == reused["uid"]

    assert alice.client.delete(path).status_code == 204
    assert bob.client.post(f"{path}/restore", params={"uid": original["uid"]}).status_code == 404
    restored = alice.client.post(f"{path}/restore", params={"uid": original["uid"]})
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["uid"], body["description"], body["version"]) == (original["uid"], "the first", 2)
    assert body["deleted_at"] is None
    assert (body["file_count"], body["total_bytes"]) == (1, 4)
    assert alice.client.get(f"{path}/files/f.txt").content == b"two!"
    assert alice.client.get(f"{path}/files/f.txt", params={"version": 1}).content == b"one"
    versions = alice.client.get(f"{path}/versions").json()["items"]
    assert [v["number"] for v in versions] == [2, 1, 0]
    assert alice.client.get(path).json()["uid"] == original["uid"]
    listed = [d for d in list_all(alice.client, owner=alice.username) if d["name"] == name]
    assert [d["uid"] for d in listed] == [original["uid"]]

    # Only the second one is left in the trash.
    trash = list_all(alice.client, owner=alice.username, deleted="true")
    assert [d["uid"] for d in trash if d["name"] == name] == [reused["uid"]]


def test_restore_without_uid_takes_the_most_recent(alice: User) -> None:
    name = unique("recent")
    path = f"/datasets/{alice.username}/{name}"
    first = create(alice.client, name)
    assert alice.client.delete(path).status_code == 204
    second = create(alice.client, name)
    assert alice.client.delete(path).status_code == 204
    restored = alice.client.post(f"{path}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["uid"] == second["uid"]
    assert first["uid"] != second["uid"]
    assert alice.client.post(f"{path}/restore").status_code == 409


def test_purge(alice: User, bob: User) -> None:
    name = unique("purge")
    path = f"/datasets/{alice.username}/{name}"
    create(alice.client, name, visibility="public")
    assert alice.client.put(f"{path}/files/x.bin", content=b"x").status_code == 201
    assert bob.client.delete(path, params={"purge": "true"}).status_code == 403
    purged = alice.client.delete(path, params={"purge": "true"})
    assert purged.status_code == 204, purged.text
    assert alice.client.get(path).status_code == 404
    assert alice.client.post(f"{path}/restore").status_code == 404
    trash = list_all(alice.client, owner=alice.username, deleted="true")
    assert name not in {d["name"] for d in trash}
    assert alice.client.delete(path, params={"purge": "true"}).status_code == 404


def test_a_purged_datasets_events_never_pass_to_a_new_one(alice: User, bob: User) -> None:
    """Nothing keeps a purged dataset's id from being given again (SQLite gives the
    newest row's id to the next row made): its events must not become the new one's."""
    gone = create(alice.client, unique("gone"))
    path = f"/datasets/{alice.username}/{gone['name']}"
    secret = alice.client.put(f"{path}/files/plan.txt", content=b"x", params={"message": "plan"})
    assert secret.status_code == 201, secret.text
    assert alice.client.delete(path, params={"purge": "true"}).status_code == 204
    fresh = create(bob.client, unique("fresh"))
    address = f"{bob.username}/{fresh['name']}"
    events = bob.client.get("/events", params={"dataset": address}).json()["items"]
    assert [(e["kind"], e["dataset"]) for e in events] == [("dataset.create", address)]


def test_purge_a_soft_deleted_dataset(alice: User) -> None:
    name = unique("purge")
    path = f"/datasets/{alice.username}/{name}"
    made = create(alice.client, name)
    assert alice.client.delete(path).status_code == 204
    wrong = alice.client.delete(path, params={"purge": "true", "uid": "f" * 32})
    assert wrong.status_code == 404, wrong.text
    purged = alice.client.delete(path, params={"purge": "true", "uid": made["uid"]})
    assert purged.status_code == 204, purged.text
    assert alice.client.post(f"{path}/restore").status_code == 404
    trash = list_all(alice.client, owner=alice.username, deleted="true")
    assert made["uid"] not in {d["uid"] for d in trash}


# --- versions --------------------------------------------------------------------------------


def test_each_write_makes_a_version(alice: User, dataset: str) -> None:
    assert alice.client.get(dataset).json()["version"] == 0
    writes = [
        ("put", "a.txt", b"hello", "first"),
        ("put", "b.txt", b"abc", ""),
        ("put", "a.txt", b"hello world", "grow a"),
        ("delete", "b.txt", b"", "drop b"),
    ]
    for number, (op, path, content, message) in enumerate(writes, start=1):
        params = {"message": message} if message else {}
        if op == "put":
            response = alice.client.put(f"{dataset}/files/{path}", content=content, params=params)
        else:
            response = alice.client.delete(f"{dataset}/files/{path}", params=params)
        assert response.status_code in (200, 201), response.text
        assert response.json()["version"] == number
        assert alice.client.get(dataset).json()["version"] == number

    head = alice.client.get(dataset).json()
    assert (head["version"], head["file_count"], head["total_bytes"]) == (4, 1, 11)

    listing = alice.client.get(f"{dataset}/versions")
    assert listing.status_code == 200, listing.text
    assert listing.json()["next_cursor"] is None
    items = listing.json()["items"]
    expected = [
        # number, parent, message, added, changed, removed, file_count, total_bytes
        (4, 3, "drop b", 0, 0, 1, 1, 11),
        (3, 2, "grow a", 0, 1, 0, 2, 14),
        (2, 1, "", 1, 0, 0, 2, 8),
        (1, 0, "first", 1, 0, 0, 1, 5),
        (0, None, "created", 0, 0, 0, 0, 0),
    ]
    got = [
        (
            v["number"],
            v["parent"],
            v["message"],
            v["added"],
            v["changed"],
            v["removed"],
            v["file_count"],
            v["total_bytes"],
        )
        for v in items
    ]
    assert got == expected
    assert {v["author"] for v in items} == {alice.username}
    created = [datetime.fromisoformat(v["created"]) for v in items]
    assert created == sorted(created, reverse=True)

    for version in items:
        single = alice.client.get(f"{dataset}/versions/{version['number']}")
        assert single.status_code == 200, single.text
        assert single.json() == version

    for number in (5, 100, -1):
        missing = alice.client.get(f"{dataset}/versions/{number}")
        assert missing.status_code == 404, (number, missing.text)
    assert alice.client.get(f"{dataset}/versions/a%20b").status_code == 400
    # A name is a tag (tests/functional/test_tags.py), and this dataset has none.
    assert alice.client.get(f"{dataset}/versions/abc").status_code == 404


def test_version_paging(alice: User, dataset: str) -> None:
    for i in range(6):
        put = alice.client.put(f"{dataset}/files/f{i}", content=b"%d" % i)
        assert put.status_code == 201, put.text
    numbers: list[int] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = alice.client.get(f"{dataset}/versions", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        sizes.append(len(body["items"]))
        numbers.extend(v["number"] for v in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert numbers == [6, 5, 4, 3, 2, 1, 0]

    for params in ({"limit": 0}, {"cursor": "zzz"}, {"cursor": "WyJ4Il0"}):
        bad = alice.client.get(f"{dataset}/versions", params=params)
        assert bad.status_code == 400, (params, bad.text)


@pytest.mark.parametrize("key", [2**31, 2**63, -(2**70)], ids=["2^31", "2^63", "-2^70"])
def test_forged_version_cursor_out_of_range(alice: User, dataset: str, key: int) -> None:
    cursor = forged_cursor(key)
    response = settled(alice.client.get(f"{dataset}/versions", params={"cursor": cursor}))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        # Newest first: a cursor above the head shows every version, one below 0 none.
        expected = [0] if key > 0 else []
        assert [v["number"] for v in response.json()["items"]] == expected


def test_versions_of_a_hidden_dataset_are_404(bob: User, anon: httpx.Client, dataset: str) -> None:
    assert bob.client.get(f"{dataset}/versions").status_code == 404
    assert anon.get(f"{dataset}/versions/0").status_code == 404


def test_old_versions_stay_readable(alice: User, dataset: str) -> None:
    for content in (b"v1", b"v2-longer"):
        assert alice.client.put(f"{dataset}/files/doc", content=content).status_code in (200, 201)
    assert alice.client.get(f"{dataset}/files/doc", params={"version": 1}).content == b"v1"
    assert alice.client.get(f"{dataset}/files/doc").content == b"v2-longer"
    assert alice.client.get(f"{dataset}/files/doc", params={"version": 0}).status_code == 404
    assert alice.client.get(f"{dataset}/files/doc", params={"version": 3}).status_code == 404
    at_zero = alice.client.get(f"{dataset}/files", params={"version": 0})
    assert at_zero.status_code == 200, at_zero.text
    assert at_zero.json() == {"version": 0, "items": [], "next_cursor": None}
