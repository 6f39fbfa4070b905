"""``GET|PUT /api/v1/datasets/{id}/metadata`` as ``get_metadata`` and ``set_metadata`` of
``PbenchServerClient`` send them: reads over the four namespaces (``user.*`` each
caller's own), writes of the keys a client may write with Pbench's checks and
normalisation, all or nothing, and who may write what (reference ``pbench.md`` §3.3, §4,
§5). A change made here is the dataset's metadata in the native API too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.dialects.pbench.conftest import Owner, Pbench
from tests.dialects.pbench.tarballs import md5_hex, metadata_log, pbench_tarball, upload
from tests.support import unique


@pytest.fixture(scope="module")
def other(pbench: Pbench) -> Iterator[httpx.Client]:
    with pbench.user() as client:
        yield client


@dataclass
class Run:
    md5: str
    name: str
    owner: str

    @property
    def label(self) -> str:
        """How Pbench names a dataset in a metadata error."""
        return f"({self.owner})|{self.name}"


def make(owner: Owner, access: str = "public") -> Run:
    name = unique("fio_meta_")
    data = pbench_tarball(name, metalog=metadata_log(name, script="fio"))
    answer = upload(owner.client, data, f"{name}.tar.xz", access=access)
    assert answer.status_code == 201, answer.text
    return Run(md5_hex(data), name, owner.username)


def get(client: httpx.Client, run: Run, *keys: str) -> dict[str, Any]:
    answer = client.get(f"/datasets/{run.md5}/metadata", params={"metadata": ",".join(keys)})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def put(client: httpx.Client, run: Run, body: Any) -> httpx.Response:
    return client.put(f"/datasets/{run.md5}/metadata", json=body)


def put_ok(client: httpx.Client, run: Run, values: dict[str, Any]) -> dict[str, Any]:
    answer = put(client, run, {"metadata": values})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["errors"] == {}
    stored: dict[str, Any] = body["metadata"]
    return stored


def invalid(answer: httpx.Response, *errors: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "message": "at least one specified metadata key is invalid",
        "errors": list(errors),
    }


# --- reading -------------------------------------------------------------------------------------


def test_a_read_names_keys_of_all_four_namespaces(
    pbench: Pbench, owner: Owner, other: httpx.Client
) -> None:
    run = make(owner)
    put_ok(owner.client, run, {"global.team": "perf", "user.fav": True})
    keys = (
        "dataset.name",
        "dataset.owner",
        "DATASET.access",  # the namespace ignores case
        "dataset.metalog.iterations/1-default.iteration_name",
        "dataset.metalog.pbench.SCRIPT",  # options are stored lower-cased
        "server.benchmark",
        "global.team",
        "global",
        "user.fav",
        "user",
        "global.team.deeper",  # through a non-object: null
        "server.nothing",
    )
    mine = get(owner.client, run, *keys)
    assert mine == {
        "dataset.name": run.name,
        "dataset.owner": owner.username,
        "DATASET.access": "public",
        "dataset.metalog.iterations/1-default.iteration_name": "1-default",
        "dataset.metalog.pbench.SCRIPT": "fio",
        "server.benchmark": "fio",
        "global.team": "perf",
        "global": {"team": "perf"},
        "user.fav": True,
        "user": {"fav": True},
        "global.team.deeper": None,
        "server.nothing": None,
    }
    # user.* is each caller's own: another user and an anonymous one see null.
    theirs = get(other, run, *keys)
    assert theirs == mine | {"user.fav": None, "user": None}
    with pbench.anonymous() as anonymous:
        assert get(anonymous, run, *keys) == mine | {"user.fav": None, "user": None}


def test_a_read_without_keys_is_empty_and_a_bad_namespace_is_refused(owner: Owner) -> None:
    run = make(owner)
    answer = owner.client.get(f"/datasets/{run.md5}/metadata")
    assert (answer.status_code, answer.json()) == (200, {})
    bad = owner.client.get(
        f"/datasets/{run.md5}/metadata", params={"metadata": ["foo.x", "server.deletion,bar"]}
    )
    assert (bad.status_code, bad.json()) == (
        400,
        {
            "message": "Unrecognized list values ['bar', 'foo.x'] given for parameter "
            "metadata; expected ['dataset', 'global', 'server', 'user']"
        },
    )
    unknown = owner.client.get(f"/datasets/{'0' * 32}/metadata")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"message": f"Dataset '{'0' * 32}' not found"},
    )


def test_a_private_dataset_is_read_by_its_owner_only(
    pbench: Pbench, owner: Owner, other: httpx.Client
) -> None:
    run = make(owner, "private")
    assert get(owner.client, run, "dataset.access") == {"dataset.access": "private"}
    what = f"READ a resource owned by {owner.username} with private access"
    with pbench.anonymous() as anonymous:
        refused = anonymous.get(f"/datasets/{run.md5}/metadata")
        assert (refused.status_code, refused.json()) == (
            401,
            {"message": f"Unauthenticated client is not authorized to {what}"},
        )
    forbidden = other.get(f"/datasets/{run.md5}/metadata")
    assert forbidden.status_code == 403
    assert forbidden.json()["message"].endswith(f"is not authorized to {what}")


# --- writing the server namespace ----------------------------------------------------------------


def test_server_deletion_is_stored_as_the_next_day_within_the_lifetime(
    pbench: Pbench, owner: Owner
) -> None:
    run = make(owner)
    stored = put_ok(owner.client, run, {"server.deletion": "2030-12-25T15:43"})
    assert stored == {"server.deletion": "2030-12-26"}
    assert get(owner.client, run, "server.deletion") == {"server.deletion": "2030-12-26"}
    # No later than the upload plus the server's dataset-lifetime (in days).
    with pbench.anonymous() as anonymous:
        lifetime = int(
            anonymous.get("/server/settings/dataset-lifetime").json()["dataset-lifetime"]
        )
    uploaded = datetime.fromisoformat(
        get(owner.client, run, "dataset.uploaded")["dataset.uploaded"]
    )
    latest = f"{uploaded + timedelta(days=lifetime):%Y-%m-%d}"
    invalid(
        put(owner.client, run, {"metadata": {"server.deletion": "2199-01-01"}}),
        f"Metadata key 'server.deletion' value '2199-01-01' for dataset {run.label} must be a "
        f"date/time before {latest}",
    )
    invalid(
        put(owner.client, run, {"metadata": {"server.deletion": "whenever"}}),
        f"Metadata key 'server.deletion' value 'whenever' for dataset {run.label} must be a "
        "date/time",
    )
    assert get(owner.client, run, "server.deletion") == {"server.deletion": "2030-12-26"}


@pytest.mark.parametrize(
    ("value", "stored"),
    [(True, True), (False, False), ("t", True), ("YES", True), ("y", True), ("N", False),
     ("false", False), ("f", False), ("no", False)],
)  # fmt: skip
def test_server_archiveonly_takes_pbench_boolean_words(
    owner: Owner, value: object, stored: bool
) -> None:
    run = make(owner)
    assert put_ok(owner.client, run, {"server.archiveonly": value}) == {
        "server.archiveonly": stored
    }
    assert get(owner.client, run, "server.archiveonly") == {"server.archiveonly": stored}


def test_bad_values_are_all_reported_and_nothing_is_written(owner: Owner) -> None:
    run = make(owner)
    answer = put(
        owner.client,
        run,
        {
            "metadata": {
                "global.fine": 1,
                "server.archiveonly": "abc",
                "server.origin": 5,
                "dataset.name": "",
                "server.deletion": 20301225,
            }
        },
    )
    label = run.label
    invalid(
        answer,
        f"Metadata key 'server.archiveonly' value 'abc' for dataset {label} must be a boolean",
        f"Metadata key 'server.origin' value 5 for dataset {label} must be a string",
        f"Metadata key 'dataset.name' value '' for dataset {label} must be a UTF-8 string of "
        "1 to 1024 characters",
        f"Metadata key 'server.deletion' value 20301225 for dataset {label} must be a date/time",
    )
    empty = put(owner.client, run, {"metadata": {"server.archiveonly": ""}})
    invalid(
        empty,
        f"Metadata key 'server.archiveonly' value '' for dataset {label} must be a boolean",
    )
    assert get(owner.client, run, "global.fine", "server.origin") == {
        "global.fine": None,
        "server.origin": None,
    }


def test_server_origin_and_global_keys_are_the_owners_to_write(
    pbench: Pbench, owner: Owner, other: httpx.Client
) -> None:
    run = make(owner)
    stored = put_ok(
        owner.client,
        run,
        {
            "server.origin": "ci-42",
            "global.dashboard.seen": True,
            "global.dashboard.tags": ["a", "b"],
            "global.notes": {"by_owner": {"text": "keep"}},
        },
    )
    assert stored == {
        "server.origin": "ci-42",
        "global.dashboard.seen": True,
        "global.dashboard.tags": ["a", "b"],
        "global.notes": {"by_owner": {"text": "keep"}},
    }
    expected_global = {
        "dashboard": {"seen": True, "tags": ["a", "b"]},
        "notes": {"by_owner": {"text": "keep"}},
    }
    # Readers of a public dataset read them.
    assert get(other, run, "global", "server.origin") == {
        "global": expected_global,
        "server.origin": "ci-42",
    }
    # Another user may not write them: Pbench's UPDATE refusal.
    what = f"UPDATE a resource owned by {owner.username} with public access"
    for values in ({"global.dashboard.seen": False}, {"server.origin": "me"}):
        forbidden = put(other, run, {"metadata": values})
        assert forbidden.status_code == 403
        assert forbidden.json()["message"].endswith(f"is not authorized to {what}")
    # Writing through a value that is not an object is refused, and changes nothing.
    through = put(owner.client, run, {"metadata": {"global.dashboard.seen.when": "now"}})
    assert through.status_code == 400, through.text
    assert get(owner.client, run, "global") == {"global": expected_global}


def test_the_native_api_sees_the_change(pbench: Pbench, owner: Owner) -> None:
    run = make(owner, "private")
    put_ok(owner.client, run, {"global.reviewed": True, "server.origin": "lab-3"})
    native = httpx.get(
        f"{pbench.url}/loft/v1/datasets/{owner.username}/{run.name}",
        headers=pbench.native_admin(),
    )
    assert native.status_code == 200, native.text
    body = native.json()
    assert (body["owner"], body["uid"], body["visibility"]) == (
        owner.username,
        run.md5,
        "private",
    )
    assert body["metadata"]["global"] == {"reviewed": True}
    assert body["metadata"]["server"]["origin"] == "lab-3"
    assert body["metadata"]["server"]["benchmark"] == "fio"


# --- user.* ------------------------------------------------------------------------------------


def test_user_keys_need_only_read_access(pbench: Pbench, owner: Owner, other: httpx.Client) -> None:
    public = make(owner)
    stored = put_ok(other, public, {"user.dashboard.favorite": True, "user.seen": 3})
    assert stored == {"user.dashboard.favorite": True, "user.seen": 3}
    assert get(other, public, "user") == {"user": {"dashboard": {"favorite": True}, "seen": 3}}
    assert get(owner.client, public, "user") == {"user": None}
    # The owner's own user.* is theirs alone too.
    put_ok(owner.client, public, {"user.seen": 1})
    assert get(owner.client, public, "user.seen") == {"user.seen": 1}
    assert get(other, public, "user.seen") == {"user.seen": 3}
    # On a private dataset another user has no READ, so no user.* either.
    private = make(owner, "private")
    forbidden = put(other, private, {"metadata": {"user.fav": True}})
    assert forbidden.status_code == 403
    assert forbidden.json()["message"].endswith(
        f"is not authorized to READ a resource owned by {owner.username} with private access"
    )
    # user.* with another key needs UPDATE.
    mixed = put(other, public, {"metadata": {"user.fav": True, "global.x": 1}})
    assert mixed.status_code == 403
    assert get(other, public, "user.fav") == {"user.fav": None}
    # An anonymous caller writes nothing.
    with pbench.anonymous() as anonymous:
        refused = put(anonymous, public, {"metadata": {"user.fav": True}})
        assert (refused.status_code, refused.json()) == (
            401,
            {
                "message": "Unauthenticated client is not authorized to UPDATE a resource "
                f"owned by {owner.username} with public access"
            },
        )


# --- dataset.name ------------------------------------------------------------------------------


def test_dataset_name_renames_the_dataset(owner: Owner) -> None:
    run = make(owner)
    new_name = "renamed run: fio, 2 hosts"
    assert put_ok(owner.client, run, {"dataset.name": new_name}) == {"dataset.name": new_name}
    assert get(owner.client, run, "dataset.name") == {"dataset.name": new_name}
    listed = owner.client.get("/datasets", params={"mine": "true", "name": "renamed run"})
    assert [(r["resource_id"], r["name"]) for r in listed.json()["results"]] == [
        (run.md5, new_name)
    ]
    too_long = put(owner.client, run, {"metadata": {"dataset.name": "x" * 1025}})
    invalid(
        too_long,
        f"Metadata key 'dataset.name' value '{'x' * 1025}' for dataset "
        f"({owner.username})|{new_name} must be a UTF-8 string of 1 to 1024 characters",
    )


# --- refusals of the request itself ------------------------------------------------------------


def test_keys_a_client_may_not_write_are_refused_by_name(owner: Owner) -> None:
    run = make(owner)
    one = put(owner.client, run, {"metadata": {"dataset.access": "public"}})
    assert (one.status_code, one.json()) == (
        400,
        {"message": "Unrecognized JSON key ['dataset.access'] for parameter metadata."},
    )
    several = put(
        owner.client,
        run,
        {
            "metadata": {
                "server.benchmark": "x",
                "global.ok": {"Bad Key": 1, "fine": {"a.b": 2}},
                "nope": 1,
            }
        },
    )
    assert (several.status_code, several.json()) == (
        400,
        {
            "message": "Unrecognized JSON keys ['Bad Key', 'a.b', 'nope', 'server.benchmark'] "
            "for parameter metadata."
        },
    )
    # A key path is checked, and stored, lower-cased (as Pbench does).
    put_ok(owner.client, run, {"GLOBAL.Upper": 1})
    assert get(owner.client, run, "global") == {"global": {"upper": 1}}


def test_a_write_needs_a_metadata_object(owner: Owner) -> None:
    run = make(owner)
    missing = {"message": "Missing required parameters: metadata"}
    bodies: tuple[dict[str, Any] | None, ...] = (None, {}, {"metadata": None}, {"other": {}})
    for body in bodies:
        answer = (
            owner.client.put(f"/datasets/{run.md5}/metadata")
            if body is None
            else put(owner.client, run, body)
        )
        assert (answer.status_code, answer.json()) == (400, missing)
    not_object = put(owner.client, run, {"metadata": ["global.x"]})
    assert not_object.status_code == 400
    assert not_object.json()["message"] == "Value ['global.x'] (list) cannot be parsed as a JSON"
    unknown = owner.client.put(f"/datasets/{'f' * 32}/metadata", json={"metadata": {"global.x": 1}})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"message": f"Dataset '{'f' * 32}' not found"},
    )
