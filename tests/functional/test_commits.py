"""Blob uploads and multi-change commits over the native API."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
from sqlalchemy import text

from dataloft.core.commits import REFRESH_STATISTICS_AFTER
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import sha, unique, upload


def commit(client: httpx.Client, dataset: str, changes: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post(f"{dataset}/commits", json={"changes": changes, **extra})


def ok_commit(client: httpx.Client, dataset: str, changes: list[dict[str, Any]]) -> Any:
    response = commit(client, dataset, changes)
    assert response.status_code == 201, response.text
    return response.json()


def head_version(client: httpx.Client, dataset: str) -> int:
    version: int = client.get(dataset).json()["version"]
    return version


def file_paths(client: httpx.Client, dataset: str) -> dict[str, str]:
    items = client.get(f"{dataset}/files").json()["items"]
    return {item["path"]: item["sha256"] for item in items}


# --- blobs -----------------------------------------------------------------------------------


def test_put_blob_new_then_existing(alice: User, bob: User) -> None:
    """``created`` says whether the bytes are new to the caller. Whether the server held
    them for somebody else is nobody's business (knowing a digest is not owning the bytes:
    see tests/functional/test_possession.py)."""
    data = os.urandom(10_000)
    digest = sha(data)
    assert alice.client.head(f"/blobs/{digest}").status_code == 404
    first = alice.client.put(f"/blobs/{digest}", content=data)
    assert first.status_code == 201, first.text
    assert first.json() == {"sha256": digest, "size": len(data), "created": True}
    assert alice.client.head(f"/blobs/{digest}").status_code == 200
    again = alice.client.put(f"/blobs/{digest}", content=data)
    assert again.status_code == 200, again.text
    assert again.json() == {"sha256": digest, "size": len(data), "created": False}
    assert bob.client.head(f"/blobs/{digest}").status_code == 404
    bobs = bob.client.put(f"/blobs/{digest}", content=data)
    assert bobs.status_code == 201, bobs.text
    assert bobs.json() == {"sha256": digest, "size": len(data), "created": True}
    assert bob.client.head(f"/blobs/{digest}").status_code == 200


def test_small_blob_upload(alice: User) -> None:
    data = os.urandom(16)
    digest = sha(data)
    response = alice.client.put(f"/blobs/{digest}", content=data)
    assert response.status_code == 201
    assert response.json()["size"] == 16
    assert alice.client.head(f"/blobs/{digest}").status_code == 200


def test_wrong_digest_is_refused_and_not_stored(alice: User) -> None:
    data = os.urandom(8000)
    claimed = sha(os.urandom(32))
    response = alice.client.put(f"/blobs/{claimed}", content=data)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert alice.client.head(f"/blobs/{claimed}").status_code == 404
    assert alice.client.head(f"/blobs/{sha(data)}").status_code == 404


def test_blob_needs_login(anon: httpx.Client, alice: User) -> None:
    data = os.urandom(64)
    digest = sha(data)
    response = anon.put(f"/blobs/{digest}", content=data)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert anon.head(f"/blobs/{digest}").status_code == 401
    assert alice.client.head(f"/blobs/{digest}").status_code == 404


def test_blob_with_invalid_digest_gives_400(alice: User) -> None:
    response = alice.client.put("/blobs/not-a-digest", content=b"x")
    assert response.status_code == 400
    upper = sha(b"x").upper()
    assert alice.client.put(f"/blobs/{upper}", content=b"x").status_code == 400


# --- commits ---------------------------------------------------------------------------------


def test_commit_with_many_changes(alice: User, dataset: str) -> None:
    one, two, three = (os.urandom(5000) for _ in range(3))
    d1, d2, d3 = upload(alice.client, one), upload(alice.client, two), upload(alice.client, three)
    setup = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "keep.bin", "sha256": d1},
            {"op": "put_file", "path": "change.bin", "sha256": d1},
            {"op": "put_file", "path": "drop.bin", "sha256": d1},
            {"op": "put_record", "id": "r-drop", "value": 1},
            {"op": "put_record", "id": "r-change", "value": {"v": 1}},
        ],
        message="setup",
    )
    assert setup.status_code == 201, setup.text
    assert setup.json()["version"]["number"] == 1
    assert setup.json()["version"]["added"] == 5

    response = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "new/a.bin", "sha256": d2, "media_type": "text/x-test"},
            {"op": "put_file", "path": "change.bin", "sha256": d3},
            {"op": "put_file", "path": "keep.bin", "sha256": d1},
            {"op": "delete_file", "path": "drop.bin"},
            {"op": "put_symlink", "path": "new/link", "target": "a.bin"},
            {"op": "put_record", "id": "r-new", "value": [1, 2, 3]},
            {"op": "put_record", "id": "r-change", "value": {"v": 2}},
            {"op": "delete_record", "id": "r-drop"},
        ],
        parent=1,
        message="many",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcomes"] == [
        "added",
        "changed",
        "unchanged",
        "removed",
        "added",
        "added",
        "changed",
        "removed",
    ]
    version = body["version"]
    assert version["number"] == 2
    assert version["parent"] == 1
    assert version["message"] == "many"
    assert version["author"] == alice.username
    assert (version["added"], version["changed"], version["removed"]) == (3, 2, 2)
    assert version["file_count"] == 4
    assert version["record_count"] == 2
    symlink_size = len(b"a.bin")
    record_bytes = _record_sizes(alice.client, dataset)
    assert record_bytes > 0
    assert version["total_bytes"] == 3 * 5000 + symlink_size + record_bytes

    assert head_version(alice.client, dataset) == 2
    assert file_paths(alice.client, dataset) == {
        "change.bin": d3,
        "keep.bin": d1,
        "new/a.bin": d2,
        "new/link": None,
    }
    files = {e["path"]: e for e in alice.client.get(f"{dataset}/files").json()["items"]}
    assert files["keep.bin"]["version"] == 1
    assert files["change.bin"]["version"] == 2
    assert files["new/a.bin"]["media_type"] == "text/x-test"
    assert files["new/link"]["kind"] == "symlink"
    assert files["new/link"]["target"] == "a.bin"
    assert alice.client.get(f"{dataset}/files/new/a.bin").content == two
    assert alice.client.get(f"{dataset}/files/change.bin").content == three
    assert alice.client.get(f"{dataset}/files/drop.bin").status_code == 404
    assert alice.client.get(f"{dataset}/records/r-new").json() == [1, 2, 3]
    assert alice.client.get(f"{dataset}/records/r-change").json() == {"v": 2}
    assert alice.client.get(f"{dataset}/records/r-drop").status_code == 404
    versions = alice.client.get(f"{dataset}/versions").json()["items"]
    assert [v["number"] for v in versions] == [2, 1, 0]


def _record_sizes(client: httpx.Client, dataset: str) -> int:
    return sum(item["size"] for item in client.get(f"{dataset}/records").json()["items"])


def test_unknown_sha256_refused_and_nothing_changes(alice: User, dataset: str) -> None:
    known = upload(alice.client, os.urandom(100))
    ok_commit(alice.client, dataset, [{"op": "put_file", "path": "k", "sha256": known}])
    unknown = sha(os.urandom(40))
    response = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "ok.bin", "sha256": known},
            {"op": "put_file", "path": "missing.bin", "sha256": unknown},
        ],
    )
    assert response.status_code == 400
    assert unknown in response.json()["error"]["message"]
    assert head_version(alice.client, dataset) == 1
    assert file_paths(alice.client, dataset) == {"k": known}


def test_parent_mismatch_gives_412(alice: User, dataset: str) -> None:
    ok_commit(alice.client, dataset, [{"op": "put_record", "id": "a", "value": 1}])
    ok_commit(alice.client, dataset, [{"op": "put_record", "id": "a", "value": 2}])
    response = commit(
        alice.client, dataset, [{"op": "put_record", "id": "a", "value": 3}], parent=1
    )
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    assert head_version(alice.client, dataset) == 2
    assert alice.client.get(f"{dataset}/records/a").json() == 2


def test_same_path_twice_gives_400(alice: User, dataset: str) -> None:
    digest = upload(alice.client, b"twice")
    response = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "dup", "sha256": digest},
            {"op": "delete_file", "path": "dup"},
        ],
    )
    assert response.status_code == 400
    records = commit(
        alice.client,
        dataset,
        [
            {"op": "put_record", "id": "r", "value": 1},
            {"op": "put_record", "id": "r", "value": 2},
        ],
    )
    assert records.status_code == 400
    assert head_version(alice.client, dataset) == 0


def test_same_name_as_file_and_record_in_one_commit(alice: User, dataset: str) -> None:
    digest = upload(alice.client, b"both")
    response = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "x", "sha256": digest},
            {"op": "put_record", "id": "x", "value": "record"},
        ],
    )
    assert response.status_code == 201, response.text
    assert alice.client.get(f"{dataset}/files/x").content == b"both"
    assert alice.client.get(f"{dataset}/records/x").json() == "record"


def test_commit_is_atomic(alice: User, dataset: str) -> None:
    first = upload(alice.client, b"first content")
    second = upload(alice.client, b"second content")
    setup = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "a.txt", "sha256": first},
            {"op": "put_record", "id": "r", "value": "old"},
        ],
    )
    assert setup.status_code == 201
    response = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "a.txt", "sha256": second},
            {"op": "put_file", "path": "b.txt", "sha256": second},
            {"op": "put_record", "id": "r", "value": "new"},
            {"op": "delete_file", "path": "never-existed.txt"},
        ],
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert head_version(alice.client, dataset) == 1
    assert file_paths(alice.client, dataset) == {"a.txt": first}
    assert alice.client.get(f"{dataset}/files/a.txt").content == b"first content"
    assert alice.client.get(f"{dataset}/records/r").json() == "old"
    assert [v["number"] for v in alice.client.get(f"{dataset}/versions").json()["items"]] == [
        1,
        0,
    ]


def test_guard_failure_in_commit_is_atomic(alice: User, dataset: str) -> None:
    digest = upload(alice.client, b"guarded")
    ok_commit(alice.client, dataset, [{"op": "put_file", "path": "g", "sha256": digest}])
    response = commit(
        alice.client,
        dataset,
        [
            {"op": "put_record", "id": "side-effect", "value": 1},
            {"op": "put_file", "path": "g", "sha256": digest, "if_none_match": True},
        ],
    )
    assert response.status_code == 412
    assert alice.client.get(f"{dataset}/records/side-effect").status_code == 404
    ok = commit(
        alice.client,
        dataset,
        [{"op": "delete_file", "path": "g", "if_match": digest}],
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["outcomes"] == ["removed"]


def test_if_match_takes_the_etag_as_the_server_sends_it(alice: User, dataset: str) -> None:
    """``if_match`` in a commit body accepts the sha256 bare, or the ETag header's value
    (quoted, also weak ``W/"..."``), like the If-Match header of single-entry writes."""
    data = b"etag-guarded"
    put = alice.client.put(f"{dataset}/files/e.txt", content=data)
    assert put.status_code == 201, put.text
    etag = put.headers["etag"]
    assert etag == f'"{sha(data)}"'
    new = upload(alice.client, b"replacement")

    for form in (etag, f"W/{etag}", f" {etag} ", sha(data)):
        changed = commit(
            alice.client,
            dataset,
            [{"op": "put_file", "path": "e.txt", "sha256": new, "if_match": form}],
        )
        assert changed.status_code == 201, (form, changed.text)
        assert changed.json()["outcomes"] == ["changed"]
        back = commit(  # put the old content back for the next form
            alice.client,
            dataset,
            [{"op": "put_file", "path": "e.txt", "sha256": sha(data), "if_match": f'"{new}"'}],
        )
        assert back.status_code == 201, back.text

    stale = commit(
        alice.client, dataset, [{"op": "delete_file", "path": "e.txt", "if_match": f'"{new}"'}]
    )
    assert stale.status_code == 412, stale.text
    star = commit(alice.client, dataset, [{"op": "delete_file", "path": "e.txt", "if_match": "*"}])
    assert star.status_code == 201, star.text
    assert "e.txt" not in file_paths(alice.client, dataset)


def test_tree_conflict_in_commit_gives_409(alice: User, dataset: str) -> None:
    digest = upload(alice.client, b"tree")
    response = commit(
        alice.client,
        dataset,
        [
            {"op": "put_file", "path": "a", "sha256": digest},
            {"op": "put_file", "path": "a/b", "sha256": digest},
        ],
    )
    assert response.status_code == 409
    assert head_version(alice.client, dataset) == 0
    replaced = commit(
        alice.client,
        dataset,
        [{"op": "put_file", "path": "a/b", "sha256": digest}],
    )
    assert replaced.status_code == 201
    swap = commit(
        alice.client,
        dataset,
        [
            {"op": "delete_file", "path": "a/b"},
            {"op": "put_file", "path": "a", "sha256": digest},
        ],
    )
    assert swap.status_code == 201, swap.text
    assert file_paths(alice.client, dataset) == {"a": digest}


def test_symlink_escaping_dataset_gives_400(alice: User, dataset: str) -> None:
    for link, target in (
        ("link", "../outside"),
        ("dir/link", "../../outside"),
        ("abs", "/etc/passwd"),
        ("dir/deep/x", "../../../x"),
    ):
        response = commit(
            alice.client, dataset, [{"op": "put_symlink", "path": link, "target": target}]
        )
        assert response.status_code == 400, (link, target, response.text)
        assert response.json()["error"]["code"] == "invalid"
    assert head_version(alice.client, dataset) == 0
    inside = commit(
        alice.client,
        dataset,
        [{"op": "put_symlink", "path": "dir/sub/link", "target": "../../top.txt"}],
    )
    assert inside.status_code == 201, inside.text


def test_get_symlink_returns_target(alice: User, dataset: str) -> None:
    response = commit(
        alice.client,
        dataset,
        [{"op": "put_symlink", "path": "docs/latest", "target": "v2/readme.md"}],
    )
    assert response.status_code == 201
    got = alice.client.get(f"{dataset}/files/docs/latest")
    assert got.status_code == 200
    assert got.json() == {"path": "docs/latest", "target": "v2/readme.md", "kind": "symlink"}
    assert got.headers["x-loft-symlink"] == "v2/readme.md"


def test_empty_commit_makes_a_version(alice: User, dataset: str) -> None:
    response = commit(alice.client, dataset, [], message="nothing")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcomes"] == []
    assert body["version"]["number"] == 1
    assert body["version"]["message"] == "nothing"
    assert (body["version"]["added"], body["version"]["changed"], body["version"]["removed"]) == (
        0,
        0,
        0,
    )
    assert head_version(alice.client, dataset) == 1


def test_records_from_commit_are_readable(alice: User, dataset: str) -> None:
    values = {
        "plain": {"a": 1, "b": [True, None]},
        "tagged": {"type": "Buffer", "data": [9, 8, 7]},
        "set": {"type": "Set", "data": ["x", "y"]},
        "nested/id with space": "text",
    }
    response = commit(
        alice.client,
        dataset,
        [{"op": "put_record", "id": k, "value": v} for k, v in values.items()],
    )
    assert response.status_code == 201, response.text
    assert response.json()["outcomes"] == ["added"] * 4
    for record_id, value in values.items():
        got = alice.client.get(f"{dataset}/records/{record_id}")
        assert got.status_code == 200
        assert got.json() == value
    listed = alice.client.get(f"{dataset}/records").json()["items"]
    assert [item["path"] for item in listed] == sorted(values)


def test_commit_needs_write_access(bob: User, alice: User, dataset: str) -> None:
    response = commit(bob.client, dataset, [{"op": "put_record", "id": "x", "value": 1}])
    assert response.status_code == 404
    assert head_version(alice.client, dataset) == 0


def test_a_big_commit_gathers_postgresqls_statistics(loft: Loft, alice: User) -> None:
    """After a commit of many entries, PostgreSQL's planner statistics of them are
    gathered at once (``db/statistics.py``), not whenever autovacuum comes by. SQLite's
    planner reads none here: nothing is gathered."""
    if loft.db.statistics is None:
        assert loft.db.dialect == "sqlite"
        return

    def analyzed() -> int:  # manual ANALYZEs of the table (autovacuum's are counted apart)
        query = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'entries'"
        with loft.db.engine.connect() as connection:  # a new snapshot of the statistics
            return int(connection.execute(text(query)).scalar_one())

    before = analyzed()
    name = unique("big")
    assert alice.client.post("/datasets", json={"name": name}).status_code == 201
    digest = upload(alice.client, b"same bytes")
    changes = [
        {"op": "put_file", "path": f"f{n:05d}", "sha256": digest}
        for n in range(REFRESH_STATISTICS_AFTER)
    ]
    ok_commit(alice.client, f"/datasets/{alice.username}/{name}", changes)
    loft.db.statistics.wait()
    deadline = time.monotonic() + 30  # the statistics views catch up within a second or so
    while analyzed() == before:
        assert time.monotonic() < deadline, "the table was never analyzed"
        time.sleep(0.05)
