"""The Algorithmia Data API's wire format, pinned with raw HTTP against a live server.

Every test speaks httpx to the session's real server (no mocks) and asserts exact status
codes, headers and bodies: authentication schemes, the data root, creating collections and
folders with ACLs, ACL updates, uploads and downloads, path spellings (``%2F``, trailing
slashes, the ``/v1/connector/data`` alias), listings and their markers, deletes and their
counts, and the error shape (``{"error": {"message": ...}}`` plus ``X-Error-Message``).
Where a write should be visible to the native API (``/loft/v1``), that is checked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dataloft.api.algorithmia import header_safe
from tests.conftest import User
from tests.dialects.algorithmia.conftest import AlgoClient
from tests.support import unique

DATA = "/v1/data"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
PUBLIC, MY_ALGOS = "user://*", "algo://.my/*"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def api(algo: AlgoClient, alice: User) -> httpx.Client:
    """Alice's Algorithmia client (``Authorization: Simple <token>``)."""
    return algo(alice)


def header_form(message: str) -> str:
    """How a message must look in ``X-Error-Message``: printable ASCII, anything else
    escaped the way Python escapes it (``ü`` -> ``\\xfc``, a newline -> ``\\n``)."""
    return "".join(ch if " " <= ch <= "~" else ascii(ch)[1:-1] for ch in message)


def error_message(response: httpx.Response, status: int) -> str:
    """Assert an Algorithmia error: the status, a JSON body ``{"error": {"message": ...}}``
    (``code``/``deleted`` allowed besides) and the message again in ``X-Error-Message``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) <= {"message", "code", "deleted"}
    message = error["message"]
    assert isinstance(message, str)
    assert message
    assert response.headers["x-error-message"] == header_form(message)
    return message


def head_error(response: httpx.Response, status: int) -> str:
    """A HEAD error: no body, the message only in ``X-Error-Message``."""
    assert response.status_code == status
    assert response.content == b""
    message = response.headers["x-error-message"]
    assert message
    assert message.isascii()
    return message


def create(client: httpx.Client, name: str, acl: dict[str, Any] | None = None) -> None:
    body: dict[str, Any] = {"name": name}
    if acl is not None:
        body["acl"] = acl
    response = client.post(f"{DATA}/.my", json=body)
    assert response.status_code == 200, response.text


def put(client: httpx.Client, path: str, data: bytes) -> None:
    response = client.put(f"{DATA}/{path}", content=data)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": f"data://{path}"}


def listing(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{DATA}/{path}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["x-data-type"] == "directory"
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def names(body: dict[str, Any]) -> list[str]:
    """A listing's entries: folders, then files."""
    return [f["name"] for f in body.get("folders", [])] + [
        f["filename"] for f in body.get("files", [])
    ]


def native(user: User, collection: str) -> dict[str, Any]:
    response = user.client.get(f"/datasets/{user.username}/{collection}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def version(user: User, collection: str) -> int:
    number: int = native(user, collection)["version"]
    return number


def native_bytes(user: User, collection: str, path: str) -> bytes:
    response = user.client.get(f"/datasets/{user.username}/{collection}/files/{path}")
    assert response.status_code == 200, response.text
    return response.content


# --- 1. authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Simple", "", "Bearer"], ids=["simple", "bare", "bearer"])
def test_each_auth_scheme_is_accepted(algo: AlgoClient, alice: User, scheme: str) -> None:
    response = algo(alice, scheme).get(f"{DATA}/.my")
    assert response.status_code == 200, response.text
    assert response.headers["x-data-type"] == "directory"
    assert response.json() == {}  # a fresh user has no collections


def test_missing_authorization_is_401_with_code_2002(algo: AlgoClient) -> None:
    response = algo(None).get(f"{DATA}/.my")
    error_message(response, 401)
    assert response.json()["error"]["code"] == 2002


@pytest.mark.parametrize(
    "header",
    ["Simple simNOTAKEY123", "simNOTAKEY123", "Bearer simNOTAKEY123", "Basic xxx"],
    ids=["wrong-simple", "wrong-bare", "wrong-bearer", "basic"],
)
def test_bad_credentials_are_401(algo: AlgoClient, header: str) -> None:
    response = algo(None).get(f"{DATA}/.my", headers={"Authorization": header})
    error_message(response, 401)
    assert response.json()["error"]["code"] == 2002


def test_a_real_token_under_the_basic_scheme_is_401(algo: AlgoClient, alice: User) -> None:
    response = algo(alice, "Basic").get(f"{DATA}/.my")
    error_message(response, 401)


# --- 2. the data root ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DATA, DATA + "/"], ids=["bare", "slash"])
def test_data_root_lists_the_callers_username(api: httpx.Client, alice: User, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["x-data-type"] == "directory"
    assert response.json() == {"folders": [{"name": alice.username}]}


# --- 3. creating collections -----------------------------------------------------------------


def test_create_answers_exactly_200_with_the_data_uri(api: httpx.Client) -> None:
    name = unique("coll")
    response = api.post(f"{DATA}/.my", json={"name": name})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"result": f"data://.my/{name}"}


@pytest.mark.parametrize(
    ("acl", "read", "visibility"),
    [
        ({"read": [PUBLIC]}, [PUBLIC], "public"),
        ({"read": []}, [], "private"),
        ({"read": [MY_ALGOS]}, [MY_ALGOS], "private"),
        (None, [MY_ALGOS], "private"),
    ],
    ids=["public", "private", "my-algos", "default"],
)
def test_create_with_each_acl(
    api: httpx.Client,
    alice: User,
    acl: dict[str, Any] | None,
    read: list[str],
    visibility: str,
) -> None:
    name = unique("coll")
    create(api, name, acl)
    # Exactly the ACL: an empty collection has no folders, files or marker.
    assert listing(api, f".my/{name}", acl="true") == {"acl": {"read": read}}
    assert listing(api, f".my/{name}") == {}
    assert native(alice, name)["visibility"] == visibility


def test_creating_an_existing_collection_is_409(api: httpx.Client, collection: str) -> None:
    response = api.post(f"{DATA}/.my", json={"name": collection})
    error_message(response, 409)


@pytest.mark.parametrize(
    "acl",
    [
        {"read": ["user://bob"]},
        {"read": [PUBLIC, MY_ALGOS]},
        {"read": PUBLIC},
        PUBLIC,
        {"read": "x"},
        [PUBLIC],
        {},
    ],
    ids=["other-user", "two-entries", "read-string", "acl-string", "read-x", "list", "empty"],
)
def test_bad_acl_is_400_and_creates_nothing(api: httpx.Client, alice: User, acl: object) -> None:
    name = unique("coll")
    response = api.post(f"{DATA}/.my", json={"name": name, "acl": acl})
    error_message(response, 400)
    error_message(api.get(f"{DATA}/.my/{name}"), 404)
    assert alice.client.get(f"/datasets/{alice.username}/{name}").status_code == 404


def test_create_under_another_owner_is_403(algo: AlgoClient, alice: User, bob: User) -> None:
    name = unique("coll")
    response = algo(alice).post(f"{DATA}/{bob.username}", json={"name": name})
    error_message(response, 403)
    assert response.json()["error"]["code"] == 2001
    assert listing(algo(bob), ".my") == {}


def test_text_plain_body_is_the_name(api: httpx.Client, alice: User) -> None:
    """The Node client POSTs the bare name as text/plain."""
    name = unique("coll")
    response = api.post(
        f"{DATA}/.my", content=name.encode(), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"result": f"data://.my/{name}"}
    assert listing(api, f".my/{name}", acl="true") == {"acl": {"read": [MY_ALGOS]}}
    assert native(alice, name)["name"] == name


@pytest.mark.parametrize("body", [b'{"name": ', b"{", b'{"name": "x",}'])
def test_malformed_json_is_400(api: httpx.Client, body: bytes) -> None:
    response = api.post(f"{DATA}/.my", content=body, headers={"Content-Type": "application/json"})
    error_message(response, 400)


@pytest.mark.parametrize(
    "body",
    [{"name": "a/b"}, {"name": ""}, {"name": 5}, {"acl": {"read": []}}, ["x"]],
    ids=["slash", "empty", "number", "no-name", "array"],
)
def test_bad_name_is_400(api: httpx.Client, body: object) -> None:
    response = api.post(f"{DATA}/.my", json=body)
    error_message(response, 400)
    assert listing(api, ".my") == {}


def test_folder_under_a_missing_parent_folder_is_404(api: httpx.Client, collection: str) -> None:
    response = api.post(f"{DATA}/.my/{collection}/missing", json={"name": "sub"})
    error_message(response, 404)


# --- 4. changing a collection's ACL ----------------------------------------------------------


def test_patch_makes_a_collection_public_then_private(
    algo: AlgoClient, alice: User, bob: User, collection: str
) -> None:
    api, as_bob = algo(alice), algo(bob)
    put(api, f".my/{collection}/shared.txt", b"for everyone")
    shared = f"{DATA}/{alice.username}/{collection}/shared.txt"
    error_message(as_bob.get(shared), 404)

    response = api.patch(f"{DATA}/.my/{collection}", json={"acl": {"read": [PUBLIC]}})
    assert response.status_code == 200
    assert response.content == b""
    assert listing(api, f".my/{collection}", acl="true")["acl"] == {"read": [PUBLIC]}
    assert native(alice, collection)["visibility"] == "public"
    seen = as_bob.get(shared)
    assert seen.status_code == 200
    assert seen.content == b"for everyone"

    response = api.patch(f"{DATA}/.my/{collection}", json={"acl": {"read": []}})
    assert response.status_code == 200
    assert response.content == b""
    assert listing(api, f".my/{collection}", acl="true")["acl"] == {"read": []}
    assert native(alice, collection)["visibility"] == "private"
    error_message(as_bob.get(shared), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"acl": {"read": ["user://bob"]}},
        {"acl": {"read": PUBLIC}},
        {"acl": PUBLIC},
        {"read": [PUBLIC]},
        {},
    ],
    ids=["other-user", "read-string", "acl-string", "no-acl-key", "empty"],
)
def test_patch_with_a_bad_acl_is_400_and_changes_nothing(
    api: httpx.Client, alice: User, collection: str, body: dict[str, Any]
) -> None:
    response = api.patch(f"{DATA}/.my/{collection}", json=body)
    error_message(response, 400)
    assert listing(api, f".my/{collection}", acl="true") == {"acl": {"read": [MY_ALGOS]}}
    assert native(alice, collection)["visibility"] == "private"


def test_patch_with_malformed_json_is_400(api: httpx.Client, collection: str) -> None:
    response = api.patch(
        f"{DATA}/.my/{collection}", content=b"{", headers={"Content-Type": "application/json"}
    )
    error_message(response, 400)


def test_patch_of_a_nested_folder_is_400(api: httpx.Client, collection: str) -> None:
    put(api, f".my/{collection}/sub/a.txt", b"a")
    response = api.patch(f"{DATA}/.my/{collection}/sub", json={"acl": {"read": [PUBLIC]}})
    error_message(response, 400)
    assert listing(api, f".my/{collection}", acl="true")["acl"] == {"read": [MY_ALGOS]}


def test_patch_of_another_users_public_collection_is_403(
    algo: AlgoClient, alice: User, bob: User
) -> None:
    name = unique("coll")
    create(algo(bob), name, {"read": [PUBLIC]})
    response = algo(alice).patch(f"{DATA}/{bob.username}/{name}", json={"acl": {"read": []}})
    error_message(response, 403)
    assert native(bob, name)["visibility"] == "public"


# --- 5. uploads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (None, b"Hello world!"),
        ("application/json", b'{"a": [1, 2]}'),
        ("application/json", b"{not json at all"),
        ("application/octet-stream", bytes(range(256))),
        ("application/x-www-form-urlencoded", b"a=1&b=2"),
    ],
    ids=["none", "json", "json-but-not-json", "octet-stream", "form"],
)
def test_put_stores_the_raw_bytes_whatever_the_content_type(
    api: httpx.Client,
    alice: User,
    collection: str,
    content_type: str | None,
    data: bytes,
) -> None:
    before = version(alice, collection)
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.put(f"{DATA}/.my/{collection}/a.txt", content=data, headers=headers)
    assert response.request.headers.get("content-type") == content_type
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"result": f"data://.my/{collection}/a.txt"}

    downloaded = api.get(f"{DATA}/.my/{collection}/a.txt")
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert native_bytes(alice, collection, "a.txt") == data
    assert version(alice, collection) == before + 1


def test_chunked_put_stores_the_bytes(api: httpx.Client, alice: User, collection: str) -> None:
    chunks = [b"first chunk, ", b"", b"second chunk, ", b"\x00\xff third"]

    def body() -> Iterator[bytes]:
        yield from chunks

    response = api.put(
        f"{DATA}/.my/{collection}/a.txt",
        content=body(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    assert response.json() == {"result": f"data://.my/{collection}/a.txt"}
    assert api.get(f"{DATA}/.my/{collection}/a.txt").content == b"".join(chunks)
    assert native_bytes(alice, collection, "a.txt") == b"".join(chunks)


def test_overwrite_replaces_and_every_put_is_a_new_version(
    api: httpx.Client, alice: User, collection: str
) -> None:
    start = version(alice, collection)
    for number, data in enumerate([b"one", b"two, longer", b"", b"three"], start=1):
        put(api, f".my/{collection}/a.txt", data)
        assert api.get(f"{DATA}/.my/{collection}/a.txt").content == data
        assert native_bytes(alice, collection, "a.txt") == data
        assert version(alice, collection) == start + number
    assert names(listing(api, f".my/{collection}")) == ["a.txt"]


@pytest.mark.parametrize(
    "where", ["{c}", "{c}/", "", "a.txt"], ids=["collection", "slash", "owner", "under-owner"]
)
def test_put_without_a_file_path_is_400(api: httpx.Client, collection: str, where: str) -> None:
    response = api.put(f"{DATA}/.my/{where.format(c=collection)}", content=b"x")
    error_message(response, 400)


def test_put_into_a_missing_collection_is_404(api: httpx.Client) -> None:
    response = api.put(f"{DATA}/.my/{unique('missing')}/a.txt", content=b"x")
    error_message(response, 404)


@pytest.mark.parametrize(
    ("acl", "status"), [({"read": []}, 404), ({"read": [PUBLIC]}, 403)], ids=["private", "public"]
)
def test_put_into_another_users_collection(
    algo: AlgoClient, alice: User, bob: User, acl: dict[str, Any], status: int
) -> None:
    name = unique("coll")
    create(algo(bob), name, acl)
    response = algo(alice).put(f"{DATA}/{bob.username}/{name}/a.txt", content=b"x")
    error_message(response, status)
    assert version(bob, name) == 0


def test_put_onto_an_existing_folder_is_400(
    api: httpx.Client, alice: User, collection: str
) -> None:
    put(api, f".my/{collection}/sub/a.txt", b"a")
    before = version(alice, collection)
    for path in ("sub", "sub/"):
        error_message(api.put(f"{DATA}/.my/{collection}/{path}", content=b"x"), 400)
    assert version(alice, collection) == before
    assert listing(api, f".my/{collection}") == {"folders": [{"name": "sub"}]}


def test_put_below_an_existing_file_is_400(api: httpx.Client, collection: str) -> None:
    put(api, f".my/{collection}/a.txt", b"a")
    error_message(api.put(f"{DATA}/.my/{collection}/a.txt/b.txt", content=b"x"), 400)


@pytest.mark.parametrize(
    "inner",
    ["%2E%2E/a.txt", "sub/%2E%2E/a.txt", "%2E/a.txt", "a%00.txt", "%00"],
    ids=["dotdot-first", "dotdot-inner", "dot", "nul-in-name", "nul-alone"],
)
def test_put_with_dot_segments_or_nul_in_the_file_path_is_400(
    api: httpx.Client, alice: User, collection: str, inner: str
) -> None:
    """``%2E`` because httpx would resolve a literal ``..`` before sending."""
    response = api.put(f"{DATA}/.my/{collection}/{inner}", content=b"x")
    assert response.request.url.raw_path.decode().endswith(inner)
    error_message(response, 400)
    assert version(alice, collection) == 0


@pytest.mark.parametrize("segment", ["%2E%2E", "c%00"], ids=["dotdot", "nul"])
def test_put_with_dot_dot_or_nul_as_the_collection_is_400(api: httpx.Client, segment: str) -> None:
    response = api.put(f"{DATA}/.my/{segment}/a.txt", content=b"x")
    error_message(response, 400)


# --- 6. path spellings -----------------------------------------------------------------------


def test_percent_encoded_slashes_reach_the_same_things(
    api: httpx.Client, alice: User, collection: str
) -> None:
    """Java and Scala encode the whole path, slashes included."""
    put(api, f".my/{collection}/sub/a.txt", b"plain path")
    encoded = f"{DATA}/.my%2F{collection}%2Fsub%2Fa.txt"
    response = api.get(encoded)
    assert response.request.url.raw_path.decode() == encoded
    assert response.status_code == 200
    assert response.content == b"plain path"
    assert api.head(encoded).headers["x-data-type"] == "file"

    written = api.put(f"{DATA}/.my%2F{collection}%2Fsub%2Fb.txt", content=b"encoded path")
    assert written.status_code == 200, written.text
    assert written.json() == {"result": f"data://.my/{collection}/sub/b.txt"}
    assert native_bytes(alice, collection, "sub/b.txt") == b"encoded path"
    assert names(listing(api, f".my%2F{collection}%2Fsub")) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("where", ["", "/sub"], ids=["collection", "nested"])
def test_trailing_slash_lists_the_same(api: httpx.Client, collection: str, where: str) -> None:
    put(api, f".my/{collection}/sub/a.txt", b"a")
    put(api, f".my/{collection}/sub/deeper/b.txt", b"b")
    put(api, f".my/{collection}/c.txt", b"c")
    bare = listing(api, f".my/{collection}{where}")
    assert bare
    assert listing(api, f".my/{collection}{where}/") == bare
    assert listing(api, f".my/{collection}{where}/", acl="true") == listing(
        api, f".my/{collection}{where}", acl="true"
    )


def test_trailing_slash_on_the_owner_lists_the_same(api: httpx.Client, collection: str) -> None:
    assert listing(api, ".my/") == listing(api, ".my") == {"folders": [{"name": collection}]}


def test_connector_alias_serves_the_same(api: httpx.Client, alice: User, collection: str) -> None:
    alias = "/v1/connector/data"
    written = api.put(f"{alias}/.my/{collection}/a.txt", content=b"via the alias")
    assert written.status_code == 200, written.text
    assert written.json() == {"result": f"data://.my/{collection}/a.txt"}
    assert api.get(f"{DATA}/.my/{collection}/a.txt").content == b"via the alias"

    for path in (".my", f".my/{collection}", f".my/{collection}/"):
        via_alias = api.get(f"{alias}/{path}")
        assert via_alias.status_code == 200
        assert via_alias.headers["x-data-type"] == "directory"
        assert via_alias.json() == listing(api, path)
    assert api.get(alias).json() == {"folders": [{"name": alice.username}]}

    downloaded = api.get(f"{alias}/.my/{collection}/a.txt")
    assert downloaded.headers["x-data-type"] == "file"
    assert downloaded.content == b"via the alias"
    error_message(api.get(f"{alias}/.my/{collection}/missing.txt"), 404)
    deleted = api.delete(f"{alias}/.my/{collection}/a.txt")
    assert deleted.content == b'{"result":{"deleted":1}}'


@pytest.mark.parametrize(
    "path",
    ["dropbox://x", "dropbox%3A%2F%2Fx", "s3://bucket/dir/a.txt", "s3+label://b/a"],
    ids=["python", "java", "s3", "labelled"],
)
def test_other_connectors_are_400(api: httpx.Client, path: str) -> None:
    error_message(api.get(f"{DATA}/{path}"), 400)
    error_message(api.put(f"{DATA}/{path}", content=b"x"), 400)


# --- 7. downloads ----------------------------------------------------------------------------


def test_utf8_text_is_served_with_a_utf8_charset(api: httpx.Client, collection: str) -> None:
    data = "héllo €".encode()
    put(api, f".my/{collection}/t.txt", data)
    response = api.get(f"{DATA}/.my/{collection}/t.txt")
    assert response.status_code == 200
    assert response.headers["x-data-type"] == "file"
    assert response.headers["content-length"] == str(len(data)) == "10"
    assert "charset=utf-8" in response.headers["content-type"]
    assert response.content == data
    assert response.text == "héllo €"


@pytest.mark.parametrize(
    "data",
    [b"ab\x00cd", b"ab\xffcd", "€".encode()[:2], b"\x89PNG\r\n\x1a\n\x00\x00"],
    ids=["nul", "invalid-utf8", "cut-utf8", "png"],
)
def test_binary_is_served_as_octet_stream(api: httpx.Client, collection: str, data: bytes) -> None:
    put(api, f".my/{collection}/b.bin", data)
    response = api.get(f"{DATA}/.my/{collection}/b.bin")
    assert response.status_code == 200
    assert response.headers["x-data-type"] == "file"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(data))
    assert response.content == data


@pytest.mark.parametrize("accept", ["text/plain", "application/json", "application/octet-stream"])
def test_accept_header_is_ignored(api: httpx.Client, collection: str, accept: str) -> None:
    data = b"\x00raw\xff"
    put(api, f".my/{collection}/b.bin", data)
    response = api.get(f"{DATA}/.my/{collection}/b.bin", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.content == data


def test_head_of_a_file(api: httpx.Client, collection: str) -> None:
    data = b"0123456789" * 7
    put(api, f".my/{collection}/sub/f.txt", data)
    response = api.head(f"{DATA}/.my/{collection}/sub/f.txt")
    assert response.status_code == 200
    assert response.headers["x-data-type"] == "file"
    assert response.headers["content-length"] == str(len(data))
    assert response.content == b""


@pytest.mark.parametrize("where", ["", "/sub", "/sub/deeper", "/sub/"])
def test_head_of_a_directory(api: httpx.Client, collection: str, where: str) -> None:
    put(api, f".my/{collection}/sub/deeper/f.txt", b"x")
    response = api.head(f"{DATA}/.my/{collection}{where}")
    assert response.status_code == 200
    assert response.headers["x-data-type"] == "directory"
    assert response.content == b""


def test_missing_file_is_404_on_get_and_head(api: httpx.Client, collection: str) -> None:
    put(api, f".my/{collection}/present.txt", b"x")
    for path in ("missing.txt", "sub/missing.txt"):
        error_message(api.get(f"{DATA}/.my/{collection}/{path}"), 404)
        head_error(api.head(f"{DATA}/.my/{collection}/{path}"), 404)
    error_message(api.get(f"{DATA}/.my/{unique('nope')}/a.txt"), 404)
    head_error(api.head(f"{DATA}/.my/{unique('nope')}"), 404)


@pytest.mark.parametrize("acl", [{"read": []}, {"read": [MY_ALGOS]}], ids=["private", "my-algos"])
def test_another_users_private_collection_is_404(
    algo: AlgoClient, alice: User, bob: User, acl: dict[str, Any]
) -> None:
    name = unique("coll")
    as_bob = algo(bob)
    create(as_bob, name, acl)
    put(as_bob, f".my/{name}/secret.txt", b"bob's")
    api = algo(alice)
    for path in (name, f"{name}/", f"{name}/secret.txt"):
        error_message(api.get(f"{DATA}/{bob.username}/{path}"), 404)
        head_error(api.head(f"{DATA}/{bob.username}/{path}"), 404)
    error_message(api.get(f"{DATA}/{bob.username}/{name}", params={"acl": "true"}), 404)


def test_another_users_public_collection_is_readable(
    algo: AlgoClient, alice: User, bob: User
) -> None:
    name = unique("coll")
    as_bob = algo(bob)
    create(as_bob, name, {"read": [PUBLIC]})
    put(as_bob, f".my/{name}/open.txt", b"bob's, public")
    api = algo(alice)
    assert names(listing(api, f"{bob.username}/{name}")) == ["open.txt"]
    assert api.get(f"{DATA}/{bob.username}/{name}/open.txt").content == b"bob's, public"
    assert api.head(f"{DATA}/{bob.username}/{name}/open.txt").headers["x-data-type"] == "file"


# --- 8. listings -----------------------------------------------------------------------------


def test_listing_has_folders_then_files_each_sorted(api: httpx.Client, collection: str) -> None:
    files = {"b.txt": b"bb", "a.txt": b"", "B.txt": b"12345", "é.txt": "€".encode()}
    for name, data in files.items():
        put(api, f".my/{collection}/{name}", data)
    for folder in ("zeta", "alpha", "Mu"):
        put(api, f".my/{collection}/{folder}/inside.txt", b"x")
    body = listing(api, f".my/{collection}")
    assert list(body) == ["folders", "files"]
    assert body["folders"] == [{"name": "Mu"}, {"name": "alpha"}, {"name": "zeta"}]
    assert [f["filename"] for f in body["files"]] == ["B.txt", "a.txt", "b.txt", "é.txt"]
    for entry in body["files"]:
        assert set(entry) == {"filename", "last_modified", "size"}
        assert type(entry["size"]) is int
        assert entry["size"] == len(files[entry["filename"]])
        stamp = entry["last_modified"]
        assert TIMESTAMP.match(stamp), stamp
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        now = datetime.now(UTC).replace(tzinfo=None)
        assert abs((now - parsed).total_seconds()) < 3600


def test_last_modified_moves_with_each_overwrite(api: httpx.Client, collection: str) -> None:
    put(api, f".my/{collection}/a.txt", b"old")
    put(api, f".my/{collection}/keep.txt", b"untouched")
    first = {f["filename"]: f for f in listing(api, f".my/{collection}")["files"]}
    put(api, f".my/{collection}/a.txt", b"newer")
    second = {f["filename"]: f for f in listing(api, f".my/{collection}")["files"]}
    assert second["keep.txt"] == first["keep.txt"]
    assert second["a.txt"]["size"] == 5
    assert second["a.txt"]["last_modified"] >= first["a.txt"]["last_modified"]


def test_nested_folders_appear_level_by_level(api: httpx.Client, collection: str) -> None:
    put(api, f".my/{collection}/a/b/c.txt", b"deep")
    assert listing(api, f".my/{collection}") == {"folders": [{"name": "a"}]}
    assert listing(api, f".my/{collection}/a") == {"folders": [{"name": "b"}]}
    deepest = listing(api, f".my/{collection}/a/b")
    assert list(deepest) == ["files"]
    assert [(f["filename"], f["size"]) for f in deepest["files"]] == [("c.txt", 4)]
    error_message(api.get(f"{DATA}/.my/{collection}/a/x"), 404)
    # acl=true on a nested folder adds nothing: ACLs belong to collections.
    assert listing(api, f".my/{collection}/a", acl="true") == {"folders": [{"name": "b"}]}


def walk(client: httpx.Client, path: str, limit: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of a listing; returns all names in order and the raw pages."""
    found: list[str] = []
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        body = listing(client, path, **params)
        pages.append(body)
        entries = names(body)
        assert 0 < len(entries) <= limit or (len(pages) == 1 and not entries)
        found += entries
        if "marker" not in body:
            return found, pages
        marker = body["marker"]
        assert isinstance(marker, str)
        assert URL_SAFE.match(marker), marker
        params = {"limit": limit, "marker": marker}
        assert len(pages) < 100


def test_pagination_walks_every_entry_exactly_once(api: httpx.Client, collection: str) -> None:
    """10 files and 2 folders of 7 files each: 12 entries, whatever the folders hold."""
    files = [f"f{number:02d}.txt" for number in range(10)]
    for name in files:
        put(api, f".my/{collection}/{name}", b"x")
    for folder in ("dir-a", "g-dir"):
        for number in range(7):
            put(api, f".my/{collection}/{folder}/n{number}.txt", b"y")
    found, pages = walk(api, f".my/{collection}", limit=3)
    assert len(pages) == 4  # exactly full: the last page has 3 entries and no marker
    assert [len(names(page)) for page in pages] == [3, 3, 3, 3]
    assert all("marker" in page for page in pages[:-1])
    assert "marker" not in pages[-1]
    assert sorted(found) == sorted([*files, "dir-a", "g-dir"])
    assert len(found) == len(set(found)) == 12
    for page in pages:  # each page: folders first, then files, each sorted by name
        assert [key for key in page if key != "marker"] == [
            key for key in ("folders", "files") if key in page
        ]
        folders = [f["name"] for f in page.get("folders", [])]
        files_here = [f["filename"] for f in page.get("files", [])]
        assert folders == sorted(folders)
        assert files_here == sorted(files_here)


@pytest.mark.parametrize("limit", [1, 2, 5, 11, 12, 13, 1000])
def test_pagination_with_tricky_names(api: httpx.Client, collection: str, limit: int) -> None:
    """Names that sort around a folder's ``/``: ``a-b`` < ``a.txt`` < ``a/...`` < ``a0``."""
    paths = ["a.txt", "a-b", "a/x", "a/y", "a/z/q", "a0", "b", "é.txt", "é/1", "Z", "_"]
    paths += ["zz/1", "zz/2", "zz/3", "zz0", "~"]
    for path in paths:
        put(api, f".my/{collection}/{path}", b"x")
    expected = sorted({path.split("/")[0] for path in paths})
    found, pages = walk(api, f".my/{collection}", limit=limit)
    assert len(found) == len(set(found))
    assert sorted(found) == expected
    assert len(pages) == -(-len(expected) // limit)


def test_folder_listing_pages(api: httpx.Client, collection: str) -> None:
    for number in range(5):
        put(api, f".my/{collection}/sub/f{number}.txt", b"x")
    put(api, f".my/{collection}/sub/inner/g.txt", b"x")
    found, pages = walk(api, f".my/{collection}/sub", limit=2)
    assert sorted(found) == ["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt", "inner"]
    assert len(pages) == 3


@pytest.mark.parametrize(
    "marker",
    ["%%%", "abc", "WyJ4IiwiYSJd", "WyJkIiwiYS9iIl0"],
    ids=["percent", "abc", "forged-kind", "forged-slash"],  # ["x","a"], ["d","a/b"]
)
def test_invalid_marker_is_400(api: httpx.Client, collection: str, marker: str) -> None:
    put(api, f".my/{collection}/a.txt", b"x")
    response = api.get(f"{DATA}/.my/{collection}", params={"marker": marker})
    error_message(response, 400)
    error_message(api.get(f"{DATA}/.my", params={"marker": marker}), 400)


def test_raw_percent_marker_is_400(api: httpx.Client, collection: str) -> None:
    """``?marker=%%%`` as Scala would send it: unencoded."""
    response = api.get(f"{DATA}/.my/{collection}?marker=%%%")
    error_message(response, 400)


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1.5", "", "\u00b2", "\u0663"])
def test_invalid_limit_is_400(api: httpx.Client, collection: str, limit: str) -> None:
    error_message(api.get(f"{DATA}/.my/{collection}", params={"limit": limit}), 400)
    error_message(api.get(f"{DATA}/.my", params={"limit": limit}), 400)


def test_limit_bounds_are_accepted(api: httpx.Client, collection: str) -> None:
    put(api, f".my/{collection}/a.txt", b"x")
    for limit in ("1", "1000"):
        assert names(listing(api, f".my/{collection}", limit=limit)) == ["a.txt"]


def test_owner_listing_lists_my_collections_sorted(api: httpx.Client) -> None:
    made = [unique(prefix) for prefix in ("b", "a", "Z", "_", "é", "m")]
    for name in made:
        create(api, name)
    assert listing(api, ".my") == {"folders": [{"name": name} for name in sorted(made)]}
    found, pages = walk(api, ".my", limit=4)
    assert found == sorted(made)
    assert len(pages) == 2


def test_owner_listing_of_another_user_shows_only_public_collections(
    algo: AlgoClient, alice: User, bob: User
) -> None:
    as_bob = algo(bob)
    public, private, default = unique("pub"), unique("priv"), unique("dflt")
    create(as_bob, public, {"read": [PUBLIC]})
    create(as_bob, private, {"read": []})
    create(as_bob, default)
    assert listing(algo(alice), bob.username) == {"folders": [{"name": public}]}
    assert names(listing(as_bob, bob.username)) == sorted([public, private, default])
    assert listing(as_bob, ".my") == listing(as_bob, bob.username)


def test_unknown_owner_is_404(api: httpx.Client) -> None:
    owner = unique("nobody")
    error_message(api.get(f"{DATA}/{owner}"), 404)
    head_error(api.head(f"{DATA}/{owner}"), 404)
    error_message(api.get(f"{DATA}/{owner}/coll"), 404)


# --- 9. deletes ------------------------------------------------------------------------------


def test_delete_a_file_answers_compact_json(
    api: httpx.Client, alice: User, collection: str
) -> None:
    put(api, f".my/{collection}/a.txt", b"x")
    before = version(alice, collection)
    response = api.delete(f"{DATA}/.my/{collection}/a.txt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"result":{"deleted":1}}'
    assert version(alice, collection) == before + 1
    error_message(api.get(f"{DATA}/.my/{collection}/a.txt"), 404)


def test_delete_a_missing_file_is_404(api: httpx.Client, collection: str) -> None:
    put(api, f".my/{collection}/present.txt", b"x")
    response = api.delete(f"{DATA}/.my/{collection}/missing.txt")
    error_message(response, 404)
    assert response.json()["error"].get("deleted", 0) == 0
    error_message(api.delete(f"{DATA}/.my/{unique('nope')}/a.txt"), 404)


@pytest.mark.parametrize("query", ["", "?force=false", "?force=False"])
def test_non_forced_delete_of_a_non_empty_folder_is_409(
    api: httpx.Client, alice: User, collection: str, query: str
) -> None:
    for path in ("sub/a.txt", "sub/b.txt", "sub/deeper/c.txt"):
        put(api, f".my/{collection}/{path}", b"x")
    before = version(alice, collection)
    response = api.delete(f"{DATA}/.my/{collection}/sub{query}")
    error_message(response, 409)
    assert response.json()["error"]["deleted"] == 0
    assert version(alice, collection) == before
    assert names(listing(api, f".my/{collection}/sub")) == ["deeper", "a.txt", "b.txt"]
    assert api.get(f"{DATA}/.my/{collection}/sub/deeper/c.txt").content == b"x"


def test_forced_folder_delete_counts_files_in_one_version(
    api: httpx.Client, alice: User, collection: str
) -> None:
    for path in ("sub/a.txt", "sub/b.txt", "sub/deeper/c.txt", "sub/deeper/d.txt", "keep.txt"):
        put(api, f".my/{collection}/{path}", b"x")
    assert api.post(f"{DATA}/.my/{collection}/sub", json={"name": "empty"}).status_code == 200
    before = version(alice, collection)
    response = api.delete(f"{DATA}/.my/{collection}/sub", params={"force": "true"})
    assert response.status_code == 200
    assert response.content == b'{"result":{"deleted":4}}'  # the empty folder's marker: 0
    assert version(alice, collection) == before + 1
    body = listing(api, f".my/{collection}")
    assert list(body) == ["files"]
    assert names(body) == ["keep.txt"]
    error_message(api.get(f"{DATA}/.my/{collection}/sub"), 404)
    head_error(api.head(f"{DATA}/.my/{collection}/sub"), 404)


def test_post_created_empty_folder(api: httpx.Client, alice: User, collection: str) -> None:
    put(api, f".my/{collection}/a.txt", b"x")
    response = api.post(f"{DATA}/.my/{collection}", json={"name": "empty"})
    assert response.status_code == 200
    assert response.json() == {"result": f"data://.my/{collection}/empty"}
    body = listing(api, f".my/{collection}")
    assert body["folders"] == [{"name": "empty"}]
    assert [f["filename"] for f in body["files"]] == ["a.txt"]
    assert listing(api, f".my/{collection}/empty") == {}  # the marker file is hidden
    assert listing(api, f".my/{collection}/empty/") == {}
    head = api.head(f"{DATA}/.my/{collection}/empty")
    assert head.status_code == 200
    assert head.headers["x-data-type"] == "directory"
    error_message(api.post(f"{DATA}/.my/{collection}", json={"name": "empty"}), 409)

    before = version(alice, collection)
    response = api.delete(f"{DATA}/.my/{collection}/empty")
    assert response.status_code == 200
    assert response.content == b'{"result":{"deleted":0}}'
    assert version(alice, collection) == before + 1
    error_message(api.get(f"{DATA}/.my/{collection}/empty"), 404)
    assert names(listing(api, f".my/{collection}")) == ["a.txt"]


def test_marker_stays_hidden_once_the_folder_has_files(api: httpx.Client, collection: str) -> None:
    assert api.post(f"{DATA}/.my/{collection}", json={"name": "sub"}).status_code == 200
    put(api, f".my/{collection}/sub/f.txt", b"x")
    assert names(listing(api, f".my/{collection}/sub")) == ["f.txt"]
    api.delete(f"{DATA}/.my/{collection}/sub/f.txt")
    assert listing(api, f".my/{collection}/sub") == {}  # still there, still empty
    assert listing(api, f".my/{collection}") == {"folders": [{"name": "sub"}]}


def test_a_folder_holding_only_an_empty_folder_is_not_empty(
    api: httpx.Client, collection: str
) -> None:
    assert api.post(f"{DATA}/.my/{collection}", json={"name": "outer"}).status_code == 200
    made = api.post(f"{DATA}/.my/{collection}/outer", json={"name": "inner"})
    assert made.status_code == 200
    assert made.json() == {"result": f"data://.my/{collection}/outer/inner"}
    assert listing(api, f".my/{collection}/outer") == {"folders": [{"name": "inner"}]}
    response = api.delete(f"{DATA}/.my/{collection}/outer")
    error_message(response, 409)
    assert response.json()["error"]["deleted"] == 0
    forced = api.delete(f"{DATA}/.my/{collection}/outer", params={"force": "true"})
    assert forced.content == b'{"result":{"deleted":0}}'
    assert listing(api, f".my/{collection}") == {}


def test_empty_collection_deletes_without_force(
    api: httpx.Client, alice: User, collection: str
) -> None:
    response = api.delete(f"{DATA}/.my/{collection}")
    assert response.status_code == 200
    assert response.content == b'{"result":{"deleted":0}}'
    error_message(api.get(f"{DATA}/.my/{collection}"), 404)
    assert listing(api, ".my") == {}
    assert alice.client.get(f"/datasets/{alice.username}/{collection}").status_code == 404


def test_non_empty_collection_needs_force(api: httpx.Client, alice: User, collection: str) -> None:
    for path in ("a.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt"):
        put(api, f".my/{collection}/{path}", b"x")
    assert api.post(f"{DATA}/.my/{collection}", json={"name": "empty"}).status_code == 200
    for query in ("", "?force=false"):
        response = api.delete(f"{DATA}/.my/{collection}{query}")
        error_message(response, 409)
        assert response.json()["error"]["deleted"] == 0
    assert names(listing(api, f".my/{collection}")) == ["empty", "sub", "a.txt", "b.txt"]

    response = api.delete(f"{DATA}/.my/{collection}", params={"force": "true"})
    assert response.status_code == 200
    assert response.content == b'{"result":{"deleted":4}}'
    error_message(api.get(f"{DATA}/.my/{collection}"), 404)
    head_error(api.head(f"{DATA}/.my/{collection}"), 404)
    error_message(api.get(f"{DATA}/.my/{collection}/a.txt"), 404)
    assert listing(api, ".my") == {}
    # The name is free again, with a fresh default ACL.
    create(api, collection)
    assert listing(api, f".my/{collection}", acl="true") == {"acl": {"read": [MY_ALGOS]}}


def test_deleting_in_another_users_public_collection_is_403(
    algo: AlgoClient, alice: User, bob: User
) -> None:
    name = unique("coll")
    as_bob = algo(bob)
    create(as_bob, name, {"read": [PUBLIC]})
    put(as_bob, f".my/{name}/a.txt", b"bob's")
    api = algo(alice)
    for path, query in ((name, ""), (name, "?force=true"), (f"{name}/a.txt", "")):
        response = api.delete(f"{DATA}/{bob.username}/{path}{query}")
        error_message(response, 403)
        assert response.json()["error"]["code"] == 2001
    assert names(listing(as_bob, f".my/{name}")) == ["a.txt"]
    assert version(bob, name) == 1


def test_deleting_the_owner_or_root_is_400(api: httpx.Client) -> None:
    error_message(api.delete(f"{DATA}/.my"), 400)
    error_message(api.delete(f"{DATA}/"), 400)


def test_a_user_file_named_like_the_folder_marker_is_not_silently_lost(
    api: httpx.Client, alice: User, collection: str
) -> None:
    """Either the reserved name is refused on upload, or the file is treated as content:
    listed, counted, and protecting its folder from a non-forced delete."""
    response = api.put(f"{DATA}/.my/{collection}/sub/.dataloft-folder", content=b"precious")
    if response.status_code == 400:
        error_message(response, 400)
        return
    assert response.status_code == 200
    assert names(listing(api, f".my/{collection}/sub")) == [".dataloft-folder"]
    error_message(api.delete(f"{DATA}/.my/{collection}/sub"), 409)
    assert native_bytes(alice, collection, "sub/.dataloft-folder") == b"precious"


# --- 10. errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/.my", "/.my/x/y.txt"], ids=["root", "owner", "file"])
def test_unsupported_method_is_405_json(api: httpx.Client, path: str) -> None:
    response = api.options(f"{DATA}{path}")
    error_message(response, 405)
    assert "GET" in response.headers["allow"]


def test_non_ascii_and_newline_in_a_path_message(api: httpx.Client, collection: str) -> None:
    """``ü\\n.txt``: a 400 from path validation whose message quotes the name."""
    response = api.put(f"{DATA}/.my/{collection}/ü%0A.txt", content=b"x")
    message = error_message(response, 400)
    assert "ü" in message
    header = response.headers["x-error-message"]
    assert header.isascii()
    assert "ü" not in header
    assert "\\xfc" in header


def test_raw_newline_in_a_message_is_escaped_in_the_header(api: httpx.Client) -> None:
    """A collection named ``x\\ny`` is bad input; the header carrying the message stays
    printable ASCII on one line."""
    response = api.get(f"{DATA}/.my/x%0Ay")
    message = error_message(response, 400)
    assert "x\\ny" in message
    header = response.headers["x-error-message"]
    assert "\n" not in header and header.isascii()


def test_header_safe_escapes_what_a_header_cannot_hold() -> None:
    assert header_safe("a\nb\r€ü\x01 ok") == "a\\nb\\r\\u20ac\\xfc\\x01 ok"


def test_oversized_create_body_is_413_json(api: httpx.Client) -> None:
    body = b'{"name": "' + b"x" * 70_000 + b'"}'
    response = api.post(f"{DATA}/.my", content=body, headers={"Content-Type": "application/json"})
    error_message(response, 413)


def test_errors_on_every_method_are_json(api: httpx.Client, alice: User, collection: str) -> None:
    missing = f"{DATA}/.my/{collection}/missing"
    error_message(api.get(missing), 404)
    error_message(api.delete(missing), 404)
    error_message(api.post(missing, json={"name": "x"}), 404)
    error_message(api.patch(missing, json={"acl": {"read": []}}), 400)
    error_message(api.patch(f"{DATA}/.my/{unique('nope')}", json={"acl": {"read": []}}), 404)
    error_message(api.put(f"{DATA}/.my/{unique('nope')}/f", content=b"x"), 404)
    error_message(api.post(f"{DATA}/", json={"name": "x"}), 400)
