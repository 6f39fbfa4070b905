"""``POST`` and ``DELETE /api/v1/datasets/{id}`` as ``PbenchServerClient.update`` and
``remove`` send them (Pbench's ``TestUpdate`` and ``TestDelete``): access flips, the
admin's ownership transfer, deletion for good; and ``GET /datasets/{id}`` and
``/detail``, which answer as Pbench answers for a dataset it has not indexed (reference
``pbench.md`` §3.6, §3.7, §5)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.dialects.pbench.conftest import ADMIN_NAME, Owner, Pbench
from tests.dialects.pbench.tarballs import md5_hex, pbench_tarball, upload
from tests.support import unique

# What Pbench answers for the Elasticsearch documents it touched: none, here.
NO_DOCUMENTS = {"deleted": 0, "updated": 0, "total": 0, "version_conflicts": 0, "failures": 0}
UNKNOWN = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def admin(pbench: Pbench) -> Iterator[httpx.Client]:
    with pbench.user(ADMIN_NAME) as client:
        yield client


@pytest.fixture(scope="module")
def tester(pbench: Pbench) -> Iterator[httpx.Client]:
    with pbench.user("tester") as client:
        yield client


@dataclass
class Run:
    md5: str
    name: str
    data: bytes


def make(client: httpx.Client, access: str = "private", name: str | None = None) -> Run:
    name = name or unique("fio_upd_")
    data = pbench_tarball(name, extra={"salt": unique().encode()})
    answer = upload(client, data, f"{name}.tar.xz", access=access)
    assert answer.status_code == 201, answer.text
    return Run(md5_hex(data), name, data)


def metadata(client: httpx.Client, run: Run, *keys: str) -> dict[str, Any]:
    answer = client.get(f"/datasets/{run.md5}/metadata", params={"metadata": ",".join(keys)})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def native(pbench: Pbench, owner: str, name: str) -> httpx.Response:
    return httpx.get(f"{pbench.url}/loft/v1/datasets/{owner}/{name}", headers=pbench.native_admin())


# --- access --------------------------------------------------------------------------------------


def test_the_owner_flips_access_both_ways(pbench: Pbench, owner: Owner) -> None:
    run = make(owner.client)
    with pbench.anonymous() as anonymous:
        assert anonymous.get(f"/datasets/{run.md5}/metadata").status_code == 401
        for access in ("public", "private"):
            answer = owner.client.post(f"/datasets/{run.md5}", params={"access": access})
            assert (answer.status_code, answer.json()) == (200, NO_DOCUMENTS)
            assert metadata(owner.client, run, "dataset.access") == {"dataset.access": access}
            seen = anonymous.get(f"/datasets/{run.md5}/metadata")
            assert seen.status_code == (200 if access == "public" else 401)
    assert native(pbench, owner.username, run.name).json()["visibility"] == "private"


def test_an_update_needs_access_or_owner(owner: Owner) -> None:
    run = make(owner.client)
    answer = owner.client.post(f"/datasets/{run.md5}")
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "Missing required parameters: access,owner"},
    )
    bad = owner.client.post(f"/datasets/{run.md5}", params={"access": "friends"})
    assert (bad.status_code, bad.json()) == (
        400,
        {
            "message": "Unrecognized access keyword ['friends'] for parameter access; "
            "allowed keywords are ['private', 'public']"
        },
    )
    unknown = owner.client.post(f"/datasets/{run.md5}", params={"colour": "red"})
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"message": "Unknown URL query keys: colour"},
    )


def test_only_the_owner_or_an_admin_updates(
    pbench: Pbench, owner: Owner, tester: httpx.Client
) -> None:
    run = make(owner.client, "public")
    what = f"UPDATE a resource owned by {owner.username} with public access"
    forbidden = tester.post(f"/datasets/{run.md5}", params={"access": "private"})
    assert (forbidden.status_code, forbidden.json()) == (
        403,
        {"message": f"User tester is not authorized to {what}"},
    )
    with pbench.anonymous() as anonymous:
        refused = anonymous.post(f"/datasets/{run.md5}", params={"access": "private"})
        assert (refused.status_code, refused.json()) == (
            401,
            {"message": f"Unauthenticated client is not authorized to {what}"},
        )
    assert metadata(owner.client, run, "dataset.access") == {"dataset.access": "public"}


# --- owner ---------------------------------------------------------------------------------------


def test_changing_the_owner_needs_the_admin_role(owner: Owner) -> None:
    run = make(owner.client)
    answer = owner.client.post(f"/datasets/{run.md5}", params={"owner": "tester"})
    assert (answer.status_code, answer.json()) == (
        403,
        {"message": "ADMIN role is required to change dataset ownership"},
    )
    assert metadata(owner.client, run, "dataset.owner") == {"dataset.owner": owner.username}


def test_an_admin_transfers_a_dataset_and_the_native_api_follows(
    pbench: Pbench, admin: httpx.Client, tester: httpx.Client
) -> None:
    run = make(admin, "public")
    answer = admin.post(f"/datasets/{run.md5}", params={"owner": "tester"})
    assert (answer.status_code, answer.json()) == (200, NO_DOCUMENTS)
    assert metadata(admin, run, "dataset.owner") == {"dataset.owner": "tester"}
    moved = native(pbench, "tester", run.name)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["owner"], moved.json()["uid"]) == ("tester", run.md5)
    assert native(pbench, ADMIN_NAME, run.name).status_code == 404
    mine = tester.get("/datasets", params={"mine": "true", "name": run.name})
    assert [r["resource_id"] for r in mine.json()["results"]] == [run.md5]
    # The new owner may now do what owners do.
    assert tester.post(f"/datasets/{run.md5}", params={"access": "private"}).status_code == 200
    assert tester.delete(f"/datasets/{run.md5}").status_code == 200


def test_a_transfer_to_an_owner_with_a_run_of_that_name_keeps_both(
    pbench: Pbench, admin: httpx.Client, tester: httpx.Client
) -> None:
    name = unique("fio_same_")
    theirs = make(tester, name=name)
    run = make(admin, name=name)
    answer = admin.post(f"/datasets/{run.md5}", params={"owner": "tester"})
    assert (answer.status_code, answer.json()) == (200, NO_DOCUMENTS)
    mine = tester.get("/datasets", params={"mine": "true", "name": name})
    assert sorted(r["resource_id"] for r in mine.json()["results"]) == sorted([theirs.md5, run.md5])
    assert {r["name"] for r in mine.json()["results"]} == {name}


def test_an_admin_and_access_and_owner_together(admin: httpx.Client, owner: Owner) -> None:
    run = make(owner.client)
    answer = admin.post(f"/datasets/{run.md5}", params={"owner": ADMIN_NAME, "access": "public"})
    assert (answer.status_code, answer.json()) == (200, NO_DOCUMENTS)
    assert metadata(admin, run, "dataset.owner", "dataset.access") == {
        "dataset.owner": ADMIN_NAME,
        "dataset.access": "public",
    }
    unknown = admin.post(f"/datasets/{run.md5}", params={"owner": "nobody-here"})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"message": "Value 'nobody-here' (str) cannot be parsed as a username"},
    )


# --- delete --------------------------------------------------------------------------------------


def test_a_deleted_dataset_is_gone_and_its_tarball_may_come_again(
    pbench: Pbench, owner: Owner
) -> None:
    run = make(owner.client)
    answer = owner.client.delete(f"/datasets/{run.md5}")
    assert (answer.status_code, answer.json()) == (200, NO_DOCUMENTS)
    gone = {"message": f"Dataset '{run.md5}' not found"}
    for method, path in (
        ("GET", f"/datasets/{run.md5}/metadata"),
        ("GET", f"/datasets/{run.md5}"),
        ("DELETE", f"/datasets/{run.md5}"),
        ("POST", f"/datasets/{run.md5}?access=public"),
    ):
        again = owner.client.request(method, path)
        assert (again.status_code, again.json()) == (404, gone), (method, path)
    listed = owner.client.get("/datasets", params={"mine": "true", "name": run.name})
    assert listed.json()["results"] == []
    assert native(pbench, owner.username, run.name).status_code == 404
    back = upload(owner.client, run.data, f"{run.name}.tar.xz")
    assert back.status_code == 201, back.text
    assert back.json()["resource_id"] == run.md5


def test_only_the_owner_or_an_admin_deletes(
    pbench: Pbench, owner: Owner, tester: httpx.Client, admin: httpx.Client
) -> None:
    run = make(owner.client, "public")
    what = f"DELETE a resource owned by {owner.username} with public access"
    forbidden = tester.delete(f"/datasets/{run.md5}")
    assert (forbidden.status_code, forbidden.json()) == (
        403,
        {"message": f"User tester is not authorized to {what}"},
    )
    with pbench.anonymous() as anonymous:
        refused = anonymous.delete(f"/datasets/{run.md5}")
        assert (refused.status_code, refused.json()) == (
            401,
            {"message": f"Unauthenticated client is not authorized to {what}"},
        )
    assert metadata(owner.client, run, "dataset.name") == {"dataset.name": run.name}
    assert admin.delete(f"/datasets/{run.md5}").status_code == 200
    assert owner.client.get(f"/datasets/{run.md5}/metadata").status_code == 404


# --- what an unindexed dataset answers -----------------------------------------------------------


def test_an_unindexed_dataset_has_no_indices_and_no_run_detail(
    pbench: Pbench, owner: Owner
) -> None:
    run = make(owner.client)
    indices = owner.client.get(f"/datasets/{run.md5}")
    assert (indices.status_code, indices.json()) == (200, {})
    detail = owner.client.get(f"/datasets/{run.md5}/detail")
    assert (detail.status_code, detail.json()) == (
        404,
        {"message": "Dataset has no 'run-data' data"},
    )
    with pbench.anonymous() as anonymous:  # private: the access rules come first
        assert anonymous.get(f"/datasets/{run.md5}").status_code == 401
        assert anonymous.get(f"/datasets/{run.md5}/detail").status_code == 401


def test_an_unknown_id_is_404_for_everyone(pbench: Pbench, owner: Owner) -> None:
    gone = {"message": f"Dataset '{UNKNOWN}' not found"}
    with pbench.anonymous() as anonymous:
        for client in (owner.client, anonymous):
            for method, path in (
                ("GET", f"/datasets/{UNKNOWN}"),
                ("GET", f"/datasets/{UNKNOWN}/detail"),
                ("GET", f"/datasets/{UNKNOWN}/metadata"),
                ("DELETE", f"/datasets/{UNKNOWN}"),
                ("POST", f"/datasets/{UNKNOWN}?access=public"),
            ):
                answer = client.request(method, path)
                assert (answer.status_code, answer.json()) == (404, gone), (method, path)


def test_a_dataset_in_the_trash_holds_its_resource_id(pbench: Pbench, owner: Owner) -> None:
    """Deleted through the native API (a soft delete, which can be undone), a Pbench
    dataset keeps its MD5: uploading the tarball again is a 409 saying what to do, and
    after a purge the upload works."""
    name = unique("trash")
    data = pbench_tarball(name)
    assert upload(owner.client, data, f"{name}.tar.xz").status_code == 201
    native = httpx.Client(base_url=pbench.url + "/loft/v1", headers=pbench.native_admin())
    with native:
        assert native.delete(f"/datasets/{owner.username}/{name}").status_code == 204
        again = upload(owner.client, data, f"{name}.tar.xz")
        assert again.status_code == 409
        assert "is in its owner's trash" in again.json()["message"]
        purged = native.delete(f"/datasets/{owner.username}/{name}", params={"purge": "true"})
        assert purged.status_code == 204, purged.text
    assert upload(owner.client, data, f"{name}.tar.xz").status_code == 201
