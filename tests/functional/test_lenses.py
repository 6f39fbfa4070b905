"""Lenses through the native API: created with ``POST /loft/v1/lenses``, shown and
reconfigured at ``/loft/v1/lenses/<owner>/<name>``, read like any dataset (records,
versions, diffs), written by nobody but their builds; and a lens whose build a restart
interrupted is built again when the builder starts."""

from __future__ import annotations

import time
from typing import Any

import httpx

from dataloft.core.access import SYSTEM
from dataloft.core.changes import PutRecord
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import unique

BUILD_SECONDS = 60.0


def wait_built(client: httpx.Client, lens: str) -> dict[str, Any]:
    deadline = time.monotonic() + BUILD_SECONDS
    while True:
        response = client.get(lens)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if not body["status"]["pending"] and body["status"]["state"] in ("ready", "failed"):
            return body
        assert time.monotonic() < deadline, body["status"]
        time.sleep(0.02)


def make_source(user: User) -> str:
    name = unique("ds")
    assert user.client.post("/datasets", json={"name": name}).status_code == 201
    for record_id, value in {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 2}}.items():
        response = user.client.put(
            f"/datasets/{user.username}/{name}/records/{record_id}", json=value
        )
        assert response.status_code in (200, 201), response.text
    return name


def test_a_lens_through_the_native_api(alice: User, bob: User) -> None:
    source = make_source(alice)
    name = unique("lens")
    body = {
        "name": name,
        "inputs": [f"/datasets/{alice.username}:{source}"],
        "code": "output(String(data.n), [path.recordID])",
        "memo": "by n",
    }
    made = alice.client.post("/lenses", json=body)
    assert made.status_code == 201, made.text
    assert made.headers["location"] == f"/loft/v1/lenses/{alice.username}/{name}"
    assert made.json()["dataset"]["visibility"] == "private"  # as its input is
    lens = f"/lenses/{alice.username}/{name}"
    info = wait_built(alice.client, lens)
    assert info["status"]["state"] == "ready"
    assert info["status"]["input_versions"] == {f"/datasets/{alice.username}:{source}": 3}
    assert info["code"] == body["code"]
    # Its records are a dataset's records, at a version of their own.
    records = alice.client.get(f"/datasets/{alice.username}/{name}/records/2")
    assert records.status_code == 200, records.text
    assert records.json() == ["b", "c"]
    versions = alice.client.get(f"/datasets/{alice.username}/{name}/versions").json()
    assert [v["number"] for v in versions["items"]][:2] in ([1, 0], [0, 1])
    # Written only by its builds: not by its owner, through any route.
    refused = alice.client.put(f"/datasets/{alice.username}/{name}/records/9", json=[])
    assert refused.status_code == 403, refused.text
    assert "lens" in refused.json()["error"]["message"]
    # Reconfigured by its owner only; then it builds again, fully.
    change = {**{k: v for k, v in body.items() if k != "name"}, "code": "output('all', 1)"}
    assert bob.client.put(lens, json=change).status_code in (403, 404)
    changed = alice.client.put(lens, json=change)
    assert changed.status_code == 200, changed.text
    info = wait_built(alice.client, lens)
    assert info["status"]["last_build"]["full"] is True
    all_ = alice.client.get(f"/datasets/{alice.username}/{name}/records/all")
    assert all_.json() == 3


def test_bad_configurations_are_400s(alice: User) -> None:
    source = make_source(alice)
    base = {"name": unique("lens"), "inputs": [f"/datasets/{alice.username}:{source}"]}
    syntax = alice.client.post("/lenses", json={**base, "code": "output(("})
    assert syntax.status_code == 400, syntax.text
    assert "map.js:1" in syntax.json()["error"]["message"]
    missing = alice.client.post(
        "/lenses", json={**base, "inputs": ["/datasets/nobody:nothing"], "code": "1"}
    )
    assert missing.status_code == 400, missing.text
    assert "/datasets/nobody:nothing" in missing.json()["error"]["message"]
    not_a_path = alice.client.post("/lenses", json={**base, "inputs": ["signs"], "code": "1"})
    assert not_a_path.status_code == 400, not_a_path.text
    assert alice.client.post("/lenses", json={**base, "inputs": [], "code": "1"}).status_code == 400


def make_counting_lens(user: User, source: str, name: str) -> str:
    """A lens ``name`` of ``user``'s summing its input's ``n``s in one record; its path."""
    body = {
        "name": name,
        "inputs": [f"/datasets/{user.username}:{source}"],
        "code": "output('n', data.n)",
    }
    assert user.client.post("/lenses", json=body).status_code == 201
    return f"/lenses/{user.username}/{name}"


def test_a_restart_builds_what_is_due(loft: Loft, alice: User) -> None:
    """A lens left behind its input (as a crash mid-build leaves it: nothing recorded as
    done) is built when the builder starts again."""
    source, name = make_source(alice), unique("lens")
    lens = make_counting_lens(alice, source, name)
    assert wait_built(alice.client, lens)["status"]["state"] == "ready"
    loft.lens_builder.stop()
    try:
        loft.commits.commit(SYSTEM, alice.username, source, [PutRecord("d", {"n": 10})])
        status = alice.client.get(lens).json()["status"]
        assert status["pending"] is True
        assert alice.client.get(f"/datasets/{alice.username}/{name}/records/n").json() == 5
    finally:
        loft.lens_builder.start()
    wait_built(alice.client, lens)
    assert alice.client.get(f"/datasets/{alice.username}/{name}/records/n").json() == 15


def test_a_build_of_a_lens_that_is_not_due_does_nothing(loft: Loft, alice: User) -> None:
    """The scheduler's list of due lenses can be older than the build that just caught a
    lens up; building it again would make an empty version and replace the figures of
    the build that did the work with zeros."""
    source, name = make_source(alice), unique("lens")
    lens = make_counting_lens(alice, source, name)
    before = wait_built(alice.client, lens)
    assert before["status"]["last_build"]["mapped"] == 3
    versions = alice.client.get(f"/datasets/{alice.username}/{name}/versions").json()["items"]
    loft.lens_builder.build(before["dataset"]["id"])  # as a stale schedule would
    after = alice.client.get(lens).json()
    assert after["status"]["last_build"] == before["status"]["last_build"]
    again = alice.client.get(f"/datasets/{alice.username}/{name}/versions").json()["items"]
    assert again == versions


def test_a_lens_is_never_more_public_than_its_inputs(
    alice: User, bob: User, anon: httpx.Client
) -> None:
    """A lens over a private dataset is private; one whose input becomes private turns
    private with its next build. Others get 404s, as for any private dataset."""
    source = make_source(alice)  # private
    name = unique("lens")
    body = {
        "name": name,
        "inputs": [f"/datasets/{alice.username}:{source}"],
        "code": "output('n', data.n)",
    }
    made = alice.client.post("/lenses", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["dataset"]["visibility"] == "private"
    lens = f"/lenses/{alice.username}/{name}"
    wait_built(alice.client, lens)
    assert bob.client.get(lens).status_code == 404
    assert anon.get(f"/datasets/{alice.username}/{name}/records/n").status_code == 404
    # A public input, then made private: the lens follows.
    public = make_source(alice)
    assert (
        alice.client.patch(
            f"/datasets/{alice.username}/{public}", json={"visibility": "public"}
        ).status_code
        == 200
    )
    name = unique("lens")
    body = {**body, "name": name, "inputs": [f"/datasets/{alice.username}:{public}"]}
    assert alice.client.post("/lenses", json=body).json()["dataset"]["visibility"] == "public"
    lens = f"/lenses/{alice.username}/{name}"
    wait_built(alice.client, lens)
    assert bob.client.get(lens).status_code == 200
    assert (
        alice.client.patch(
            f"/datasets/{alice.username}/{public}", json={"visibility": "private"}
        ).status_code
        == 200
    )
    response = alice.client.put(f"/datasets/{alice.username}/{public}/records/z", json={"n": 5})
    assert response.status_code in (200, 201)
    wait_built(alice.client, lens)
    assert bob.client.get(lens).status_code == 404
    assert alice.client.get(lens).json()["dataset"]["visibility"] == "private"
