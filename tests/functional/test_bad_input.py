"""Bad input gets a clear 4xx in the native error shape, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import FAST_HASHING, LiveServer, unique

MiB = 1024 * 1024

CODES = {400: "invalid", 404: "not_found", 409: "conflict", 412: "precondition_failed"}
CODES[413] = "too_large"

# (label, the path as it appears in the URL, the path as JSON sends it)
BAD_PATHS = [
    ("dotdot", "%2e%2e", ".."),
    ("dotdot-in-middle", "a/%2e%2e/b", "a/../b"),
    ("dotdot-escape", "%2e%2e/etc/passwd", "../etc/passwd"),
    ("dot", "a/%2e/b", "a/./b"),
    ("absolute", "%2Fetc%2Fpasswd", "/etc/passwd"),
    ("empty-segment", "a//b", "a//b"),
    ("trailing-slash", "a/", "a/"),
    ("nul", "a%00b", "a\x00b"),
    ("control", "a%01b", "a\x01b"),
    ("escape-char", "a%1Bb", "a\x1bb"),
    ("delete-char", "a%7Fb", "a\x7fb"),
    ("newline", "a%0Ab", "a\nb"),
    ("backslash", "a%5Cb", "a\\b"),
    ("backslash-dotdot", "%2e%2e%5Cwindows", "..\\windows"),
    ("too-long", "/".join(["x" * 99] * 20), "/".join(["x" * 99] * 20)),
    ("long-segment", "d/" + "s" * 300, "d/" + "s" * 300),
]
BAD_IDS = [label for label, _, _ in BAD_PATHS]


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == CODES[status]
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


def fresh(user: User) -> httpx.Client:
    """A client with its own connection: a 500 would make the server drop the connection,
    and one failure should not turn the checks after it into connection errors."""
    return httpx.Client(base_url=user.client.base_url, headers=user.client.headers, timeout=60)


def head_version(client: httpx.Client, dataset: str) -> int:
    version: int = client.get(dataset).json()["version"]
    return version


# --- paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("url_path", "json_path"), [p[1:] for p in BAD_PATHS], ids=BAD_IDS)
def test_bad_path_on_file_writes(alice: User, dataset: str, url_path: str, json_path: str) -> None:
    with fresh(alice) as client:
        assert_error(client.put(f"{dataset}/files/{url_path}", content=b"x"), 400)
        assert_error(client.delete(f"{dataset}/files/{url_path}"), 400)
        assert head_version(client, dataset) == 0


@pytest.mark.parametrize(("url_path", "json_path"), [p[1:] for p in BAD_PATHS], ids=BAD_IDS)
def test_bad_path_in_commits(alice: User, dataset: str, url_path: str, json_path: str) -> None:
    digest = hashlib.sha256(b"ok").hexdigest()
    with fresh(alice) as client:
        assert client.put(f"/blobs/{digest}", content=b"ok").status_code in (200, 201)
        operations: list[dict[str, Any]] = [
            {"op": "put_file", "path": json_path, "sha256": digest},
            {"op": "delete_file", "path": json_path},
            {"op": "put_symlink", "path": json_path, "target": "x"},
        ]
        for operation in operations:
            response = client.post(f"{dataset}/commits", json={"changes": [operation]})
            assert_error(response, 400)
        assert head_version(client, dataset) == 0


@pytest.mark.parametrize("path", [".dataloft-folder", "a/b/.dataloft-folder"])
def test_folder_marker_name_is_reserved(alice: User, dataset: str, path: str) -> None:
    """Folder markers are made by folder operations only: a user file of that name would be
    hidden and deleted with its "empty" folder."""
    digest = hashlib.sha256(b"mine").hexdigest()
    with fresh(alice) as client:
        assert_error(client.put(f"{dataset}/files/{path}", content=b"mine"), 400)
        assert client.put(f"/blobs/{digest}", content=b"mine").status_code in (200, 201)
        for operation in (
            {"op": "put_file", "path": path, "sha256": digest},
            {"op": "put_symlink", "path": path, "target": "x"},
        ):
            response = client.post(f"{dataset}/commits", json={"changes": [operation]})
            assert_error(response, 400)
            assert "reserved" in response.json()["error"]["message"]
        assert head_version(client, dataset) == 0


def test_bad_path_on_file_reads(alice: User, dataset: str) -> None:
    """Reads accept a path too, so they refuse bad ones like writes do. One test for all the
    paths, so that the failure lists every path that was not answered with a 400."""
    wrong: list[tuple[str, str, int]] = []
    for label, url_path, _ in BAD_PATHS:
        for method in ("GET", "HEAD"):
            with fresh(alice) as client:
                response = client.request(method, f"{dataset}/files/{url_path}")
            if response.status_code != 400:
                wrong.append((label, method, response.status_code))
            elif method == "GET":
                assert_error(response, 400)
    assert [w for w in wrong if w[2] >= 500] == []
    assert wrong == []


@pytest.mark.parametrize(
    "target",
    ["../x", "a/../../x", "/etc/passwd", "", "a\x00b", "..", "../../../../etc/shadow"],
    ids=["dotdot", "climb", "absolute", "empty", "nul", "bare-dotdot", "deep"],
)
def test_bad_symlink_targets(alice: User, dataset: str, target: str) -> None:
    with fresh(alice) as client:
        response = client.post(
            f"{dataset}/commits",
            json={"changes": [{"op": "put_symlink", "path": "link", "target": target}]},
        )
        assert_error(response, 400)
        assert head_version(client, dataset) == 0


def test_nul_in_record_id(alice: User, dataset: str) -> None:
    with fresh(alice) as client:
        assert_error(client.put(f"{dataset}/records/a%00b", json=1), 400)
        assert_error(client.delete(f"{dataset}/records/a%00b"), 400)
        for operation in (
            {"op": "put_record", "id": "a\x00b", "value": 1},
            {"op": "delete_record", "id": "a\x00b"},
            {"op": "put_record", "id": "", "value": 1},
        ):
            response = client.post(f"{dataset}/commits", json={"changes": [operation]})
            assert_error(response, 400)
        assert head_version(client, dataset) == 0


def test_nul_in_record_id_read(alice: User, dataset: str) -> None:
    with fresh(alice) as client:
        response = client.get(f"{dataset}/records/a%00b")
        assert response.status_code in (400, 404), response.text
        assert response.json()["error"]["code"] == CODES[response.status_code]


@pytest.mark.parametrize("space", ["files", "records"])
def test_nul_in_listing_prefix_or_cursor(alice: User, dataset: str, space: str) -> None:
    """A prefix or cursor with a NUL matches nothing: an empty page or a 400, never a 500."""
    nul_cursor = base64.urlsafe_b64encode(json.dumps(["a\x00"]).encode()).decode().rstrip("=")
    for params in ({"prefix": "a\x00"}, {"cursor": nul_cursor}):
        with fresh(alice) as client:
            response = client.get(f"{dataset}/{space}", params=params)
        assert response.status_code in (200, 400), (params, response.text)
        if response.status_code == 200:
            assert response.json()["items"] == []
        else:
            assert_error(response, 400)


def test_bad_metadata_header(alice: User, dataset: str) -> None:
    for value in ("{not json", "[1]", '"text"', "null"):
        response = alice.client.put(
            f"{dataset}/files/m.bin", content=b"m", headers={"X-Loft-Metadata": value}
        )
        assert_error(response, 400)
    assert head_version(alice.client, dataset) == 0


def test_bad_if_none_match_on_write(alice: User, dataset: str) -> None:
    response = alice.client.put(
        f"{dataset}/files/x", content=b"x", headers={"If-None-Match": '"abc"'}
    )
    assert_error(response, 400)


def test_bad_media_type_in_commit(alice: User, dataset: str) -> None:
    digest = hashlib.sha256(b"mt").hexdigest()
    assert alice.client.put(f"/blobs/{digest}", content=b"mt").status_code in (200, 201)
    change = {"op": "put_file", "path": "f", "sha256": digest, "media_type": "not a type"}
    assert_error(alice.client.post(f"{dataset}/commits", json={"changes": [change]}), 400)
    bad_digest = {"op": "put_file", "path": "f", "sha256": "XYZ"}
    assert_error(alice.client.post(f"{dataset}/commits", json={"changes": [bad_digest]}), 400)


# --- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2]", b'"just a string"', b"\xff\xfe\x00", b'{"name": '],
    ids=["garbage", "empty", "array", "string", "binary", "truncated"],
)
def test_malformed_json_bodies(alice: User, dataset: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    assert_error(alice.client.post("/datasets", content=body, headers=headers), 400)
    assert_error(alice.client.post(f"{dataset}/commits", content=body, headers=headers), 400)
    assert head_version(alice.client, dataset) == 0


def test_malformed_commit_changes(alice: User, dataset: str) -> None:
    bodies: list[Any] = [
        {},
        {"changes": "nope"},
        {"changes": [{"op": "rename", "path": "a"}]},
        {"changes": [{"op": "put_file", "path": "a"}]},
        {"changes": [{"path": "a"}]},
        {"changes": [], "parent": "latest"},
        {"changes": [{"op": "put_record", "id": 5, "value": 1}]},
    ]
    for body in bodies:
        assert_error(alice.client.post(f"{dataset}/commits", json=body), 400)
    assert head_version(alice.client, dataset) == 0


def test_negative_parent_in_commit_body_gives_400(alice: User, dataset: str) -> None:
    # ?parent= on single writes refuses negatives with 400; the commit body should agree.
    response = alice.client.post(f"{dataset}/commits", json={"changes": [], "parent": -1})
    assert_error(response, 400)
    assert head_version(alice.client, dataset) == 0


def test_unknown_fields_are_refused(alice: User, dataset: str) -> None:
    name = unique("ds")
    assert_error(alice.client.post("/datasets", json={"name": name, "colour": "red"}), 400)
    assert alice.client.get(f"/datasets/{alice.username}/{name}").status_code == 404
    assert_error(alice.client.post(f"{dataset}/commits", json={"changes": [], "bogus": 1}), 400)
    change = {"op": "put_record", "id": "r", "value": 1, "extra": True}
    assert_error(alice.client.post(f"{dataset}/commits", json={"changes": [change]}), 400)
    assert_error(alice.client.patch(dataset, json={"nmae": "typo"}), 400)
    assert head_version(alice.client, dataset) == 0


def test_unknown_dataset_gives_404(alice: User) -> None:
    missing = f"/datasets/{alice.username}/{unique('nope')}"
    nobody = f"/datasets/{unique('ghost')}/{unique('nope')}"
    for base in (missing, nobody):
        with fresh(alice) as client:
            assert_error(client.get(base), 404)
            assert_error(client.get(f"{base}/files"), 404)
            assert_error(client.get(f"{base}/files/a.txt"), 404)
            assert_error(client.put(f"{base}/files/a.txt", content=b"x"), 404)
            assert_error(client.delete(f"{base}/files/a.txt"), 404)
            assert_error(client.get(f"{base}/records"), 404)
            assert_error(client.put(f"{base}/records/r", json=1), 404)
            assert_error(client.post(f"{base}/commits", json={"changes": []}), 404)
            assert_error(client.get(f"{base}/diff", params={"from": 0}), 404)
            assert_error(client.get(f"{base}/versions"), 404)
            assert_error(client.get(f"{base}/archive.zip"), 404)


def test_json_body_over_limit_gives_413(alice: User, settings: Settings) -> None:
    assert settings.max_json_body == 32 * MiB
    name = unique("ds")
    padding = "x" * (33 * MiB)
    body = json.dumps({"name": name, "description": padding}).encode()
    assert len(body) > settings.max_json_body
    with fresh(alice) as client:
        response = client.post(
            "/datasets", content=body, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 413)
        assert str(settings.max_json_body) in response.json()["error"]["message"]
        assert client.get(f"/datasets/{alice.username}/{name}").status_code == 404


# --- a server with a small file limit --------------------------------------------------------


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    """Its own server, SQLite database and blob directory, with max_file_size=1000."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'small.sqlite3'}",
        blob_url=f"file://{tmp_path / 'blobs'}",
        max_file_size=1000,
        **FAST_HASHING,
    )
    loft = Loft(settings)
    loft.accounts.create_user(SYSTEM, "carol", "password-carol")
    token = loft.auth.create_token(SYSTEM, username="carol", name="tests").secret
    live = LiveServer(create_app(settings, loft)).start()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=live.url + "/loft/v1", headers=headers, timeout=30) as client:
            yield client, tmp_path / "blobs"
    finally:
        live.stop()
        loft.close()


def test_file_over_limit_gives_413(small_server: tuple[httpx.Client, Path]) -> None:
    client, blob_dir = small_server
    assert client.post("/datasets", json={"name": "small"}).status_code == 201
    dataset = "/datasets/carol/small"
    data = os.urandom(5000)

    assert_error(client.put(f"{dataset}/files/big.bin", content=data), 413)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 500):
            yield data[start : start + 500]

    chunked = client.put(f"{dataset}/files/big.bin", content=chunks())
    assert_error(chunked, 413)
    assert "1000" in chunked.json()["error"]["message"]

    digest = hashlib.sha256(data).hexdigest()
    assert_error(client.put(f"/blobs/{digest}", content=data), 413)
    assert client.head(f"/blobs/{digest}").status_code == 404

    assert head_version(client, dataset) == 0
    assert client.get(f"{dataset}/files/big.bin").status_code == 404
    assert client.get(f"{dataset}/versions").json()["items"][0]["number"] == 0
    assert [p for p in blob_dir.rglob("*") if p.is_file()] == []

    fits = os.urandom(1000)
    response = client.put(f"{dataset}/files/fits.bin", content=fits)
    assert response.status_code == 201, response.text
    assert client.get(f"{dataset}/files/fits.bin").content == fits


# --- digests, cursors, versions, limits ------------------------------------------------------


def test_wrong_digest_on_blob_upload(alice: User) -> None:
    data = os.urandom(6000)
    claimed = hashlib.sha256(data + b"!").hexdigest()
    assert_error(alice.client.put(f"/blobs/{claimed}", content=data), 400)
    assert alice.client.head(f"/blobs/{claimed}").status_code == 404
    assert_error(alice.client.put("/blobs/" + "g" * 64, content=data), 400)
    assert_error(alice.client.put("/blobs/abc", content=data), 400)


def _cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def test_invalid_cursors_give_400(alice: User, dataset: str) -> None:
    assert alice.client.put(f"{dataset}/files/a", content=b"a").status_code == 201
    malformed = ["garbage!", "%%%", base64.urlsafe_b64encode(b"not json").decode()]
    malformed += [_cursor(), _cursor("a", "b"), _cursor({"a": 1}), _cursor(None)]
    path_keyed = [f"{dataset}/files", f"{dataset}/records"]
    int_keyed = [f"{dataset}/versions", "/datasets"]
    for cursor in malformed:
        for url in path_keyed + int_keyed:
            assert_error(alice.client.get(url, params={"cursor": cursor}), 400)
    diff_keyed = [c for c in malformed if c != _cursor("a", "b")] + [_cursor("f"), _cursor(1, 2)]
    for cursor in diff_keyed:
        response = alice.client.get(f"{dataset}/diff", params={"from": 0, "cursor": cursor})
        assert_error(response, 400)
    for url in path_keyed:
        assert_error(alice.client.get(url, params={"cursor": _cursor(1)}), 400)
    for url in int_keyed:
        assert_error(alice.client.get(url, params={"cursor": _cursor("1")}), 400)
        assert_error(alice.client.get(url, params={"cursor": _cursor(True)}), 400)
        assert_error(alice.client.get(url, params={"cursor": _cursor(1.5)}), 400)


# Neither numbers nor tag names ("abc", "1.5" and "0x1" are tag names: a dataset without
# them answers 404, tests/functional/test_tags.py).
@pytest.mark.parametrize("value", ["-1", "a b", "1,5", "", "0x1!", "-99999999999999999999"])
def test_bad_version_numbers_give_400(alice: User, dataset: str, value: str) -> None:
    assert alice.client.put(f"{dataset}/files/a", content=b"a").status_code == 201
    with fresh(alice) as client:
        for url in (f"{dataset}/files", f"{dataset}/files/a", f"{dataset}/records"):
            assert_error(client.get(url, params={"version": value}), 400)
        for fmt in ("zip", "tar", "tar.gz"):
            assert_error(client.get(f"{dataset}/archive.{fmt}", params={"version": value}), 400)
        assert_error(client.get(f"{dataset}/diff", params={"from": value}), 400)
        assert_error(client.get(f"{dataset}/diff", params={"from": 0, "to": value}), 400)
        assert_error(client.put(f"{dataset}/files/b", content=b"b", params={"parent": value}), 400)
        assert_error(client.delete(f"{dataset}/files/a", params={"parent": value}), 400)
        assert head_version(client, dataset) == 1


def test_garbage_version_in_path_gives_400(alice: User, dataset: str) -> None:
    assert_error(alice.client.get(f"{dataset}/versions/a%20b"), 400)
    assert_error(alice.client.get(f"{dataset}/versions/1,5"), 400)
    assert_error(alice.client.get(f"{dataset}/versions/1.5"), 404)  # a tag it does not have


def test_huge_version_numbers_are_404_not_500(alice: User, dataset: str) -> None:
    huge = str(10**30)
    with fresh(alice) as client:
        assert_error(client.get(f"{dataset}/files", params={"version": huge}), 404)
        assert_error(client.get(f"{dataset}/files/a", params={"version": huge}), 404)
        assert_error(client.get(f"{dataset}/diff", params={"from": huge}), 404)
        assert_error(client.get(f"{dataset}/archive.zip", params={"version": huge}), 404)
        assert_error(client.get(f"{dataset}/versions/{huge}"), 404)
        assert_error(client.get(f"{dataset}/versions/{2**63}"), 404)
        assert_error(client.put(f"{dataset}/files/a", content=b"a", params={"parent": huge}), 412)


@pytest.mark.parametrize("limit", ["0", "-5", "abc", "1001"])
def test_bad_limits_give_400(alice: User, dataset: str, limit: str) -> None:
    for url in (f"{dataset}/files", f"{dataset}/records", f"{dataset}/versions", "/datasets"):
        assert_error(alice.client.get(url, params={"limit": limit}), 400)
    assert_error(alice.client.get(f"{dataset}/diff", params={"from": 0, "limit": limit}), 400)


def test_numbers_no_row_can_have_name_nothing(alice: User) -> None:
    """Ids are 32-bit: a larger one (or digits of another script) finds nothing, a 404,
    and never reaches the database, where SQLite cannot even bind it."""
    with fresh(alice) as client:
        for key in (str(2**31), str(2**70), "\u00b2"):
            assert_error(client.get(f"/licences/{key}"), 404)
        assert_error(client.delete(f"/tokens/{2**70}"), 404)
        made = client.post("/datasets", json={"name": unique("lic"), "licence": 2**70})
        assert_error(made, 404)


def test_a_last_event_id_in_digits_of_another_script_is_400(alice: User) -> None:
    with fresh(alice) as client:
        # Superscript one, two, three: digits to str.isdigit, not to int(). Headers are
        # read as latin-1, where these are single bytes.
        for value in (b"\xb9", b"\xb2", b"7\xb3"):
            assert_error(client.get("/events", headers={b"Last-Event-ID": value}), 400)
        assert_error(client.get("/events", params={"after": 2**63}), 400)


def test_json_values_are_taken_as_sent_never_coerced(alice: User, dataset: str) -> None:
    """The schema's types are the whole truth: 0 is not false, "5" not 5; a number with
    no fraction is an integer, as JSON Schema reads it."""
    with fresh(alice) as client:
        patch = client.patch(f"/users/{alice.username}", json={"revoke_tokens": 0})
        assert_error(patch, 400)
        assert_error(client.post("/tokens", json={"expires_in_days": "5"}), 400)
        assert_error(client.post("/tokens", json={"expires_in_days": True}), 400)
        assert client.post("/tokens", json={"expires_in_days": 5.0}).status_code == 201
        body: dict[str, Any] = {"parent": "0", "changes": []}
        assert_error(client.post(f"{dataset}/commits", json=body), 400)
        body = {"parent": 0.0, "changes": []}
        assert client.post(f"{dataset}/commits", json=body).status_code == 201


def test_token_requests_without_a_token_are_401_whatever_the_body(anon: httpx.Client) -> None:
    both = {"expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 1}
    assert anon.post("/tokens", json=both).status_code == 401


def test_nul_is_refused_in_passwords_and_token_names(admin: User, alice: User) -> None:
    with fresh(admin) as client:
        made = client.post("/users", json={"username": unique("n"), "password": "pass\x00word"})
        assert_error(made, 400)
    with fresh(alice) as client:
        assert_error(client.post("/tokens", json={"name": "a\x00b"}), 400)


def test_media_types_are_ascii(alice: User, dataset: str) -> None:
    """Type, subtype and parameter names are token characters (RFC 9110), which are ASCII:
    a letter of another script is no part of a media type."""
    digest = hashlib.sha256(b"mt").hexdigest()
    with fresh(alice) as client:
        assert client.put(f"/blobs/{digest}", content=b"mt").status_code in (200, 201)
        for media_type in ("t\u00e9xt/plain", "text/plain; charset=\u00e9", "text/plain;\x00a=b"):
            change = {"op": "put_file", "path": "f", "sha256": digest, "media_type": media_type}
            response = client.post(f"{dataset}/commits", json={"changes": [change]})
            assert_error(response, 400)
        headers = {b"Content-Type": b"t\xe9xt/plain"}  # latin-1, as headers are read
        assert_error(client.put(f"{dataset}/files/g", content=b"g", headers=headers), 400)
