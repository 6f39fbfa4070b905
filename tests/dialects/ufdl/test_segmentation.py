"""Image segmentation's labels and layers (``/v1/segments/datasets/{pk}/...``) as UFDL's
python client sends them. A layer's bytes are a blob the image's entry holds on to: kept
while a version names it, read by whoever may read the dataset; copies and merges carry
the layers, clear removes them (the labels stay), and datasets with other labels do not
merge."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from tests.conftest import User
from tests.dialects.ufdl.conftest import Ufdl, Workspace, domain_dataset, refused, upload
from tests.support import LiveServer

IS = "/segments/datasets"
SKY = b"\x89PNG sky mask " + bytes(range(256)) * 8
ROAD = b"\x89PNG road mask"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dataset(client: Ufdl, project: int, *files: str, labels: list[str] | None = None) -> int:
    pk: int = domain_dataset(client, "segments", project)["pk"]
    for name in files:
        assert upload(client, pk, name, name.encode(), prefix="/segments").status_code == 200
    if labels is not None:
        response = client.http.post(f"{IS}/{pk}/labels", json={"labels": labels})
        assert response.status_code == 200, response.text
    return pk


def _set_layer(client: Ufdl, pk: int, filename: str, label: str, data: bytes) -> httpx.Response:
    """What the client's ``set_layer`` sends: an upload, named after the image."""
    return client.http.post(
        f"{IS}/{pk}/layers/{filename}/{label}",
        content=data,
        headers={
            "Content-Disposition": f"attachment; filename={filename}",
            "Content-Type": "application/data",
        },
    )


def _layer(client: Ufdl | httpx.Client, pk: int, filename: str, label: str) -> bytes:
    http = client.http if isinstance(client, Ufdl) else client
    response = http.get(f"{IS}/{pk}/layers/{filename}/{label}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/data")
    return response.content


def test_labels(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    pk = _dataset(a, workspace.project["pk"])
    url = f"{IS}/{pk}/labels"
    assert a.http.get(url).json() == []
    set_ = a.http.post(url, json={"labels": ["sky", "road", "car"]})
    assert set_.status_code == 200 and set_.json() == ["sky", "road", "car"]
    assert a.http.get(url).json() == ["sky", "road", "car"]  # their order, not sorted
    for body, words in [
        ({"labels": ["a", "a"]}, ["Duplicate labels"]),
        ({"labels": "sky"}, ["labels"]),
        ({"labels": ["sky", 3]}, ["labels"]),
        ({"labels": [""]}, ["labels"]),
        ({"labels": ["a/b"]}, ["'/'"]),
        ({}, ["labels", "required"]),
        ({"labels": [], "extra": 1}, ["unknown key", "extra"]),
        (["sky"], ["object"]),
    ]:
        refused(a.http.post(url, json=body), 400, *words)
    assert a.http.get(url).json() == ["sky", "road", "car"]
    assert a.http.post(url, json={"labels": []}).json() == []


def test_layers(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    pk = _dataset(a, workspace.project["pk"], "img.png", "deep/er/two.png", labels=["sky", "road"])
    # No layer yet: an empty body.
    assert _layer(a, pk, "img.png", "sky") == b""
    made = _set_layer(a, pk, "img.png", "sky", SKY)
    assert made.status_code == 200, made.text
    assert made.json() == "sky"
    assert _layer(a, pk, "img.png", "sky") == SKY
    assert _layer(a, pk, "img.png", "road") == b""
    assert _set_layer(a, pk, "deep/er/two.png", "road", ROAD).json() == "road"
    assert _layer(a, pk, "deep/er/two.png", "road") == ROAD
    assert a.http.get(f"{IS}/{pk}/layers/deep/er/two.png/road/").content == ROAD
    ranged = a.http.get(f"{IS}/{pk}/layers/img.png/sky", headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206 and ranged.content == SKY[:4]
    # A new mask replaces the old.
    assert _set_layer(a, pk, "img.png", "sky", ROAD).status_code == 200
    assert _layer(a, pk, "img.png", "sky") == ROAD

    refused(_set_layer(a, pk, "img.png", "tree", SKY), 400, "'label': tree", "sky")
    refused(a.http.get(f"{IS}/{pk}/layers/img.png/tree"), 400, "'label': tree")
    refused(_set_layer(a, pk, "nope.png", "sky", SKY), 400, "Bad name 'nope.png': Doesn't exist")
    refused(a.http.get(f"{IS}/{pk}/layers/nope.png/sky"), 400, "Doesn't exist")
    no_name = a.http.post(f"{IS}/{pk}/layers/img.png/sky", content=SKY)
    refused(no_name, 400, "Content-Disposition")

    # Labels no longer listed take their layers with them.
    assert a.http.post(f"{IS}/{pk}/labels", json={"labels": ["road"]}).status_code == 200
    assert a.http.post(f"{IS}/{pk}/labels", json={"labels": ["road", "sky"]}).status_code == 200
    assert _layer(a, pk, "img.png", "sky") == b""
    assert _layer(a, pk, "deep/er/two.png", "road") == ROAD


def test_a_layer_outlives_its_replacement_while_a_version_names_it(
    writer: Ufdl, workspace: Workspace, loft: Loft
) -> None:
    """The layer's blob is an attachment of the image's entry: garbage collection keeps
    it, and the one it replaced, which an earlier version still names."""
    a = writer
    pk = _dataset(a, workspace.project["pk"], "img.png", labels=["sky"])
    first, second = SKY + b"first", SKY + b"second"
    assert _set_layer(a, pk, "img.png", "sky", first).status_code == 200
    assert _set_layer(a, pk, "img.png", "sky", second).status_code == 200
    loft.blobs.collect_garbage(0)
    assert _layer(a, pk, "img.png", "sky") == second
    with loft.db.read() as session:
        wanted = Blob.digest.in_([_sha(first), _sha(second)])
        kept = session.scalars(select(Blob.digest).where(wanted)).all()
    assert set(kept) == {_sha(first), _sha(second)}


def test_who_may_read_and_change_layers(
    workspace: Workspace,
    as_user: Callable[[User], Ufdl],
    alice: User,
    bob: User,
    make_user: Callable[..., User],
    server: LiveServer,
) -> None:
    workspace.join(alice.username, "W")
    workspace.join(bob.username, "R")
    a, b, carol = as_user(alice), as_user(bob), as_user(make_user("carol"))
    pk = _dataset(a, workspace.project["pk"], "img.png", labels=["sky"])
    assert _set_layer(a, pk, "img.png", "sky", SKY).status_code == 200
    assert _layer(b, pk, "img.png", "sky") == SKY
    assert b.http.get(f"{IS}/{pk}/labels").json() == ["sky"]
    assert _set_layer(b, pk, "img.png", "sky", ROAD).status_code == 403
    assert b.http.post(f"{IS}/{pk}/labels", json={"labels": []}).status_code == 403
    # A reader may copy: the copy holds the layers, whose bytes the reader could read.
    copy = b.http.post(f"{IS}/{pk}/copy", json={"new_name": f"bobs-{pk}"})
    assert copy.status_code == 200, copy.text
    assert _layer(b, copy.json()["pk"], "img.png", "sky") == SKY
    for response in (
        carol.http.get(f"{IS}/{pk}/layers/img.png/sky"),
        carol.http.get(f"{IS}/{pk}/labels"),
        _set_layer(carol, pk, "img.png", "sky", ROAD),
        carol.http.post(f"{IS}/{pk}/labels", json={"labels": []}),
    ):
        refused(response, 404, "No Dataset matches")
    assert _layer(a, pk, "img.png", "sky") == SKY

    # A public dataset's layers are anyone's to read, writers' to change.
    assert a.http.patch(f"/segments/datasets/{pk}", json={"is_public": True}).status_code == 200
    with httpx.Client(base_url=server.url + "/v1", timeout=30) as anonymous:
        assert _layer(anonymous, pk, "img.png", "sky") == SKY
        written = anonymous.post(
            f"{IS}/{pk}/layers/img.png/sky",
            content=ROAD,
            headers={"Content-Disposition": "attachment; filename=img.png"},
        )
        assert written.status_code == 401
    assert _layer(carol, pk, "img.png", "sky") == SKY
    assert _set_layer(carol, pk, "img.png", "sky", ROAD).status_code == 403


def test_copies_merges_and_clear(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    project = workspace.project["pk"]
    pk = _dataset(a, project, "img.png", labels=["sky", "road"])
    assert _set_layer(a, pk, "img.png", "sky", SKY).status_code == 200

    copy = a.http.post(f"{IS}/{pk}/copy", json={"new_name": f"copy-{pk}"}).json()
    assert copy["domain"] == "Image Segmentation"
    assert a.http.get(f"{IS}/{copy['pk']}/labels").json() == ["sky", "road"]
    assert _layer(a, copy["pk"], "img.png", "sky") == SKY

    # Datasets merge when their labels agree, and bring their layers along.
    source = _dataset(a, project, "two.png", labels=["sky", "road"])
    assert _set_layer(a, source, "two.png", "road", ROAD).status_code == 200
    merged = a.http.post(f"{IS}/{pk}/merge/{source}", json={"delete": False})
    assert merged.status_code == 200, merged.text
    assert _layer(a, pk, "two.png", "road") == ROAD
    other = _dataset(a, project, "three.png", labels=["road", "sky"])
    refused(
        a.http.post(f"{IS}/{pk}/merge/{other}", json={"delete": False}),
        406,
        "Cannot perform merge:\nSource data-set has different labels to target",
    )

    # Clear takes the layers away; the labels stay.
    assert a.http.delete(f"{IS}/{pk}/clear").status_code == 200
    assert a.http.get(f"{IS}/{pk}/labels").json() == ["sky", "road"]
    assert _layer(a, pk, "img.png", "sky") == b""
    assert _layer(a, pk, "two.png", "road") == b""
    assert _layer(a, copy["pk"], "img.png", "sky") == SKY


def test_each_change_is_a_version(writer: Ufdl, workspace: Workspace, alice: User) -> None:
    a = writer
    made = domain_dataset(a, "segments", workspace.project["pk"])
    pk = made["pk"]
    upload(a, pk, "img.png", b"img", prefix="/segments")
    address = f"/datasets/{alice.username}/{made['name']}-v1"
    before = alice.client.get(address).json()["version"]
    assert a.http.post(f"{IS}/{pk}/labels", json={"labels": ["sky"]}).status_code == 200
    assert _set_layer(a, pk, "img.png", "sky", SKY).status_code == 200
    dataset = alice.client.get(address).json()
    assert dataset["version"] == before + 2
    assert dataset["metadata"] == {"ufdl": {"labels": ["sky"]}}
    [entry] = alice.client.get(f"{address}/files").json()["items"]
    layers: dict[str, Any] = entry["metadata"]["layers"]
    assert layers == {"sky": _sha(SKY)}


def test_a_dataset_of_another_domain_is_not_found(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    od = domain_dataset(a, "objdet", workspace.project["pk"])["pk"]
    upload(a, od, "img.png", b"img", prefix="/objdet")
    refused(a.http.get(f"{IS}/{od}/labels"), 404, "No Dataset matches")
    refused(a.http.get(f"{IS}/{od}/layers/img.png/sky"), 404)
    refused(_set_layer(a, od, "img.png", "sky", SKY), 404)
    seg = _dataset(a, workspace.project["pk"], labels=["sky"])
    assert a.http.get(f"/objdet/datasets/{seg}/labels").status_code == 404
