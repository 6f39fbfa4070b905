"""Pigeon Optics datasets and authors, pinned with raw HTTP: ``PUT /datasets/create`` (303
to the new dataset, public, name rules, 409, 401), the dataset info object, listings by
author (private native datasets stay hidden), ``/authors/``, deleting (204 / 403 / 401) and
the memo ``configuration`` (a write like any other: one new version)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    Dataset,
    basic,
    challenge,
    cors,
    create_dataset,
    error,
    index,
    native_versions,
    put_record,
)
from tests.support import unique

FORBIDDEN = "You need to login as someone with permission to edit this"
NO_AUTHOR = "Author account name doesn't exist"
INFO_KEYS = {"author", "name", "memo", "version", "created", "updated", "config", "records"}


def epoch_ms(stamp: object) -> int:
    """A plausible epoch-milliseconds timestamp of this test run (an int, not a float)."""
    assert isinstance(stamp, int), stamp
    assert not isinstance(stamp, bool)
    now = time.time() * 1000
    assert now - 10 * 60_000 < stamp <= now + 60_000, stamp
    return stamp


def info(po: httpx.Client, ds: Dataset, slash: str = "/") -> dict[str, Any]:
    response = po.get(ds.url + slash)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    cors(response)
    body: dict[str, Any] = response.json()
    assert set(body) == INFO_KEYS, body
    assert response.headers["x-version"] == str(body["version"])
    return body


def private_native_dataset(user: User) -> str:
    name = unique("priv")
    response = user.client.post("/datasets", json={"name": name})
    assert response.status_code == 201, response.text
    assert response.json()["visibility"] == "private"
    return name


# --- creating --------------------------------------------------------------------------------


def test_create_redirects_to_a_public_dataset(po: httpx.Client, alice: User, bob: User) -> None:
    name = unique("ds")
    response = po.put("/datasets/create", json={"name": name, "memo": "Signs"}, auth=basic(alice))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/datasets/{alice.username}:{name}/"
    cors(response)
    seen = bob.client.get(f"/datasets/{alice.username}/{name}")
    assert seen.status_code == 200, seen.text
    native = seen.json()
    assert native["visibility"] == "public"
    assert native["description"] == "Signs"
    assert native["version"] == 0
    assert native_versions(bob, Dataset(alice.username, name)) == [0]


def test_create_through_an_html_form_override(po: httpx.Client, alice: User) -> None:
    name = unique("ds")
    response = po.post(
        "/datasets/create",
        params={"_method": "PUT"},
        data={"name": name, "memo": "from a form"},
        auth=basic(alice),
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/datasets/{alice.username}:{name}/"
    assert info(po, Dataset(alice.username, name))["memo"] == "from a form"


def test_create_without_a_memo(po: httpx.Client, alice: User) -> None:
    name = unique("ds")
    response = po.put("/datasets/create", json={"name": name}, auth=basic(alice))
    assert response.status_code == 303, response.text
    body = info(po, Dataset(alice.username, name))
    assert body["memo"] == ""
    assert body["config"] == {"memo": ""}


FORBIDDEN_NAMES = ["a:b", "a/b", "a?b", ".", "..", "", "a#b", "a%b", "a@b", "a b=c", "x" * 251]


def test_create_refuses_forbidden_names(po: httpx.Client, alice: User) -> None:
    for name in FORBIDDEN_NAMES:
        response = po.put("/datasets/create", json={"name": name, "memo": ""}, auth=basic(alice))
        error(response, 400)
    listing = po.get(f"/datasets/{alice.username}:")
    assert listing.status_code == 200
    assert listing.json() == []


def test_create_refuses_malformed_bodies(po: httpx.Client, alice: User) -> None:
    bodies: list[object] = [
        {"memo": "no name"},
        {"name": 5},
        ["x"],
        {"name": "ok" + unique(), "memo": 5},
    ]
    for body in bodies:
        error(po.put("/datasets/create", json=body, auth=basic(alice)), 400)
    assert po.get(f"/datasets/{alice.username}:").json() == []


def test_create_of_a_taken_name_is_409(po: httpx.Client, alice: User, ds: Dataset) -> None:
    response = po.put("/datasets/create", json={"name": ds.name, "memo": "x"}, auth=basic(alice))
    error(response, 409)
    assert info(po, ds)["memo"] == "a test dataset"


def test_create_over_a_private_native_dataset_is_409(po: httpx.Client, alice: User) -> None:
    name = private_native_dataset(alice)
    error(po.put("/datasets/create", json={"name": name}, auth=basic(alice)), 409)
    assert alice.client.get(f"/datasets/{alice.username}/{name}").json()["visibility"] == (
        "private"
    )


def test_anonymous_create_is_401(po: httpx.Client) -> None:
    challenge(po.put("/datasets/create", json={"name": unique("ds"), "memo": ""}))


def test_create_answers_only_put(po: httpx.Client, alice: User) -> None:
    response = po.get("/datasets/create", auth=basic(alice))
    assert response.status_code == 405
    cors(response)


# --- reading one -----------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""], ids=["slash", "bare"])
def test_dataset_info(po: httpx.Client, alice: User, ds: Dataset, slash: str) -> None:
    body = info(po, ds, slash)
    assert body["author"] == alice.username
    assert body["name"] == ds.name
    assert body["memo"] == "a test dataset"
    assert body["config"] == {"memo": "a test dataset"}
    assert body["version"] == 0
    assert body["records"] == {}
    assert epoch_ms(body["created"]) <= epoch_ms(body["updated"])

    put_record(po, alice, ds, "abc", {"x": 1})
    body = info(po, ds, slash)
    assert body["version"] == 1
    _, records = index(po, ds)
    assert body["records"] == records
    assert set(records) == {"abc"}
    assert records["abc"]["version"] == 1
    assert body["updated"] >= body["created"]


def test_unknown_dataset_is_404(po: httpx.Client, alice: User) -> None:
    missing = Dataset(alice.username, unique("ds"))
    error(po.get(missing.url + "/"), 404)
    error(po.get(missing.records), 404)
    error(po.get(f"/datasets/{unique('nobody')}:{unique('ds')}/"), 404)


def test_a_missing_dataset_named_like_records_is_not_a_missing_record(
    po: httpx.Client, alice: User
) -> None:
    missing = Dataset(alice.username, unique("myrecords"))
    message = error(po.get(missing.record("x")), 404)
    assert message != "Record Not Found"


# --- listings --------------------------------------------------------------------------------


def test_datasets_by_author_hide_other_peoples_private_datasets(
    po: httpx.Client, make_user: Callable[..., User]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    first = create_dataset(po, alice, name="b" + unique())
    second = create_dataset(po, alice, name="a" + unique())
    secret = private_native_dataset(bob)
    shown = create_dataset(po, bob)

    everything = po.get("/datasets/")
    assert everything.status_code == 200
    cors(everything)
    listing = everything.json()
    assert isinstance(listing, dict)
    assert listing[alice.username] == sorted([first.name, second.name])
    assert listing[bob.username] == [shown.name]
    assert all(isinstance(names, list) for names in listing.values())

    # The owner sees their own private dataset; nobody else does.
    assert secret in po.get("/datasets/", auth=basic(bob)).json()[bob.username]
    assert secret not in po.get("/datasets/", auth=basic(alice)).json()[bob.username]

    assert po.get(f"/datasets/{alice.username}:").json() == sorted([first.name, second.name])
    assert po.get(f"/datasets/{bob.username}:").json() == [shown.name]
    assert po.get(f"/datasets/{bob.username}:", auth=basic(alice)).json() == [shown.name]
    assert sorted(po.get(f"/datasets/{bob.username}:", auth=basic(bob)).json()) == sorted(
        [shown.name, secret]
    )

    hidden = Dataset(bob.username, secret)
    for auth in (None, basic(alice)):
        error(po.get(hidden.url + "/", auth=auth), 404)
        error(po.get(hidden.url, auth=auth), 404)
        error(po.get(hidden.records, auth=auth), 404)
        error(po.get(hidden.record("x"), auth=auth), 404)
    assert po.get(hidden.url + "/", auth=basic(bob)).status_code == 200


def test_an_author_without_datasets_lists_nothing(po: httpx.Client, alice: User) -> None:
    response = po.get(f"/datasets/{alice.username}:")
    assert response.status_code == 200
    assert response.json() == []


def test_unknown_author_listing_is_404(po: httpx.Client) -> None:
    assert error(po.get(f"/datasets/{unique('nobody')}:"), 404) == NO_AUTHOR


def test_authors(po: httpx.Client, alice: User, ds: Dataset) -> None:
    authors = po.get("/authors/")
    assert authors.status_code == 200
    cors(authors)
    names = authors.json()
    assert isinstance(names, list)
    assert alice.username in names
    assert all(isinstance(name, str) for name in names)

    response = po.get(f"/authors/{alice.username}/")
    assert response.status_code == 200
    cors(response)
    assert response.json() == {"auth": "regular", "datasets": [ds.name], "lenses": []}


def test_admin_authors_are_admin(po: httpx.Client, admin: User) -> None:
    response = po.get(f"/authors/{admin.username}/")
    assert response.status_code == 200
    body = response.json()
    assert body["auth"] == "admin"
    assert body["lenses"] == []
    assert isinstance(body["datasets"], list)


def test_unknown_author_is_404(po: httpx.Client) -> None:
    assert error(po.get(f"/authors/{unique('nobody')}/"), 404) == NO_AUTHOR


# --- deleting --------------------------------------------------------------------------------


def test_delete_by_the_owner(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "r", 1)
    response = po.delete(ds.url + "/", auth=basic(alice))
    assert response.status_code == 204, response.text
    assert response.content == b""
    cors(response)
    error(po.get(ds.url + "/"), 404)
    error(po.get(ds.records), 404)
    error(po.get(ds.record("r")), 404)
    assert ds.name not in po.get(f"/datasets/{alice.username}:").json()
    assert alice.client.get(ds.native).status_code == 404


def test_delete_without_the_trailing_slash(po: httpx.Client, alice: User, ds: Dataset) -> None:
    assert po.delete(ds.url, auth=basic(alice)).status_code == 204
    error(po.get(ds.url + "/"), 404)


def test_delete_by_someone_else_is_403(
    po: httpx.Client, alice: User, bob: User, ds: Dataset
) -> None:
    assert error(po.delete(ds.url + "/", auth=basic(bob)), 403) == FORBIDDEN
    assert info(po, ds)["name"] == ds.name


def test_anonymous_delete_is_401(po: httpx.Client, ds: Dataset) -> None:
    challenge(po.delete(ds.url + "/"))
    assert info(po, ds)["name"] == ds.name


def test_delete_of_a_missing_dataset_is_404(po: httpx.Client, alice: User) -> None:
    error(po.delete(f"/datasets/{alice.username}:{unique('ds')}/", auth=basic(alice)), 404)


def test_the_admin_may_delete_anyones_dataset(po: httpx.Client, admin: User, ds: Dataset) -> None:
    assert po.delete(ds.url + "/", auth=basic(admin)).status_code == 204
    error(po.get(ds.url + "/"), 404)


# --- configuration ---------------------------------------------------------------------------


def test_configuration_memo_change_is_one_new_version(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    before = po.get(ds.url + "/configuration")
    assert before.status_code == 200, before.text
    cors(before)
    config = before.json()
    assert set(config) == {"memo", "version", "created", "updated"}
    assert config["memo"] == "a test dataset"
    assert config["version"] == 0
    assert epoch_ms(config["created"]) <= epoch_ms(config["updated"])

    response = po.put(ds.url + "/configuration", json={"memo": "new"}, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert response.content == b""
    cors(response)

    after = po.get(ds.url + "/configuration").json()
    assert after["memo"] == "new"
    assert after["version"] == 1
    assert after["created"] == config["created"]
    assert after["updated"] >= config["updated"]
    body = info(po, ds)
    assert body["memo"] == "new"
    assert body["config"] == {"memo": "new"}
    assert body["version"] == 1
    assert native_versions(alice, ds) == [1, 0]
    assert alice.client.get(ds.native).json()["description"] == "new"

    # The same memo again is still a write: one more version.
    again = po.put(ds.url + "/configuration", json={"memo": "new"}, auth=basic(alice))
    assert again.status_code == 204
    assert po.get(ds.url + "/configuration").json()["version"] == 2


def test_configuration_by_someone_else_is_403(
    po: httpx.Client, alice: User, bob: User, ds: Dataset
) -> None:
    response = po.put(ds.url + "/configuration", json={"memo": "bob's"}, auth=basic(bob))
    assert error(response, 403) == FORBIDDEN
    challenge(po.put(ds.url + "/configuration", json={"memo": "anon"}))
    config = po.get(ds.url + "/configuration").json()
    assert config["memo"] == "a test dataset"
    assert config["version"] == 0


def test_configuration_refuses_a_non_string_memo(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    error(po.put(ds.url + "/configuration", json={"memo": 5}, auth=basic(alice)), 400)
    assert po.get(ds.url + "/configuration").json()["version"] == 0


def test_configuration_of_a_missing_dataset_is_404(po: httpx.Client, alice: User) -> None:
    error(po.get(f"/datasets/{alice.username}:{unique('ds')}/configuration"), 404)


def test_configuration_from_an_html_form(po: httpx.Client, alice: User, ds: Dataset) -> None:
    response = po.post(
        ds.url + "/configuration",
        params={"_method": "PUT"},
        data={"memo": "from a form"},
        auth=basic(alice),
    )
    assert response.status_code == 204, response.text
    config = po.get(ds.url + "/configuration").json()
    assert config["memo"] == "from a form"
    assert config["version"] == 1
