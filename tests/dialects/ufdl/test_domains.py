"""Datasets under a domain's prefix, and what the domains keep of each file: image
classification's categories, speech's transcriptions, as UFDL's python client sends them.
They version with the dataset; copies and merges carry them; clear removes them."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import User
from tests.dialects.ufdl.conftest import Ufdl, Workspace, domain_dataset, upload


def test_categories(workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User) -> None:
    workspace.join(alice.username, "W")
    a = as_user(alice)
    ds = domain_dataset(a, "classify", workspace.project["pk"])
    assert ds["domain"] == "Image Classification"
    pk = ds["pk"]
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        assert upload(a, pk, name, name.encode(), prefix="/classify").status_code == 200
    added = a.http.patch(
        f"/classify/datasets/{pk}/categories",
        json={"method": "add", "images": ["a.jpg", "b.jpg"], "categories": ["cat", "pet"]},
    )
    assert added.json() == {"a.jpg": ["cat", "pet"], "b.jpg": ["cat", "pet"]}
    removed = a.http.patch(
        f"/classify/datasets/{pk}/categories",
        json={"method": "remove", "images": ["b.jpg"], "categories": ["cat"]},
    )
    assert removed.json() == {"b.jpg": ["pet"]}
    assert a.http.get(f"/classify/datasets/{pk}/categories").json() == {
        "a.jpg": ["cat", "pet"],
        "b.jpg": ["pet"],
        "c.jpg": [],
    }
    replaced = a.http.post(
        f"/classify/datasets/{pk}/categories", json={"c.jpg": ["dog"], "a.jpg": []}
    )
    assert replaced.json() == {"a.jpg": [], "b.jpg": ["pet"], "c.jpg": ["dog"]}
    assert a.http.get(f"/classify/datasets/{pk}/categories/c.jpg").json() == ["dog"]
    missing = a.http.patch(
        f"/classify/datasets/{pk}/categories",
        json={"method": "add", "images": ["nope.jpg"], "categories": ["x"]},
    )
    assert missing.status_code == 400

    copy = a.http.post(f"/classify/datasets/{pk}/copy", json={}).json()
    assert a.http.get(f"/classify/datasets/{copy['pk']}/categories").json()["c.jpg"] == ["dog"]
    assert copy["domain"] == "Image Classification" and copy["version"] == 2

    cleared = a.http.delete(f"/classify/datasets/{pk}/clear")
    assert cleared.status_code == 200
    assert set(map(tuple, a.http.get(f"/classify/datasets/{pk}/categories").json().values())) == {
        ()
    }

    # The domain's list shows its own datasets; the core list shows every domain's.
    by_pk = {"expressions": [{"type": "exact", "field": "pk", "value": pk}]}
    assert len(a.list("/classify/datasets", by_pk).json()) == 1
    assert len(a.list("/datasets", by_pk).json()) == 1
    assert a.list("/speech/datasets", by_pk).json() == []
    assert a.http.get(f"/speech/datasets/{pk}/transcriptions").status_code == 404


def test_merge_carries_categories(
    workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User
) -> None:
    workspace.join(alice.username, "W")
    a = as_user(alice)
    target, source = (
        domain_dataset(a, "classify", workspace.project["pk"])["pk"] for _ in range(2)
    )
    upload(a, source, "x.jpg", b"x", prefix="/classify")
    a.http.post(f"/classify/datasets/{source}/categories", json={"x.jpg": ["bird"]})
    merged = a.http.post(f"/classify/datasets/{target}/merge/{source}", json={"delete": False})
    assert merged.status_code == 200, merged.text
    assert a.http.get(f"/classify/datasets/{target}/categories").json() == {"x.jpg": ["bird"]}


def test_transcriptions(
    workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User, bob: User
) -> None:
    workspace.join(alice.username, "W")
    workspace.join(bob.username, "R")
    a, b = as_user(alice), as_user(bob)
    pk = domain_dataset(a, "speech", workspace.project["pk"])["pk"]
    upload(a, pk, "clips/one.wav", b"RIFF", prefix="/speech")
    said = a.http.post(
        f"/speech/datasets/{pk}/transcriptions/clips/one.wav", json={"transcription": "hello there"}
    )
    assert said.json() == {"transcription": "hello there"}
    assert b.http.get(f"/speech/datasets/{pk}/transcriptions").json() == {
        "clips/one.wav": "hello there"
    }
    assert b.http.get(f"/speech/datasets/{pk}/transcriptions/clips/one.wav").json() == {
        "transcription": "hello there"
    }
    refused = b.http.post(
        f"/speech/datasets/{pk}/transcriptions/clips/one.wav", json={"transcription": "no"}
    )
    assert refused.status_code == 403
