"""Decoder bombs sent to the native API (record bodies in JSON and CBOR, the JSON bodies
FastAPI decodes for commits and datasets, cursors) and to Algorithmia's JSON bodies
(issue 10): each is refused with a 400 or a 413 in the dialect's error shape within 2 s,
while the peak memory of the server's processes grows by less than 50 MB; nothing is
stored, and the server answers the next request. The server runs in a process of its own
(``server_process``), so that the memory measured is the server's only. The limits, and
why each exists: ``dataloft.core.decoding``; the bombs: ``tests/bombs.py``."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests import bombs
from tests.conftest import User
from tests.support import ServerProcess, refused_cheaply, unique

CBOR = "application/cbor"
JSON = "application/json"


@dataclass(frozen=True)
class Bomb:
    """A request to a dataset of alice's (``{ds}`` in ``path``: ``/datasets/<o>/<n>``)."""

    name: str
    method: str
    path: str
    content_type: str
    body: Callable[[], bytes]
    status: int


def _commit_of(value: Callable[[], bytes]) -> Callable[[], bytes]:
    """A commit body putting a record whose value is ``value`` (JSON text)."""

    def body() -> bytes:
        return b'{"changes": [{"op": "put_record", "id": "r", "value": ' + value() + b"}]}"

    return body


RECORD = "{ds}/records/r"
COMMITS = "{ds}/commits"
BOMBS = [
    Bomb("cbor-shared-values", "PUT", RECORD, CBOR, bombs.cbor_shared_values, 400),
    Bomb("cbor-self-reference", "PUT", RECORD, CBOR, bombs.cbor_self_reference, 400),
    Bomb("cbor-string-references", "PUT", RECORD, CBOR, bombs.cbor_string_references, 400),
    Bomb("cbor-array-as-key", "PUT", RECORD, CBOR, bombs.cbor_array_key, 400),
    Bomb("cbor-colliding-keys", "PUT", RECORD, CBOR, bombs.cbor_colliding_keys, 400),
    Bomb("cbor-big-integer", "PUT", RECORD, CBOR, bombs.cbor_big_integer, 400),
    Bomb("cbor-declared-length", "PUT", RECORD, CBOR, bombs.cbor_declared_length, 413),
    Bomb("cbor-many-elements", "PUT", RECORD, CBOR, bombs.cbor_many_elements, 413),
    Bomb("json-deep", "PUT", RECORD, JSON, bombs.json_deep, 400),
    Bomb("json-many-elements", "PUT", RECORD, JSON, bombs.json_many_elements, 413),
    Bomb("json-big-number", "PUT", RECORD, JSON, bombs.json_big_number, 400),
    Bomb("json-big-integer-tag", "PUT", RECORD, JSON, bombs.json_big_integer_tag, 400),
    Bomb("json-far-date", "PUT", RECORD, JSON, bombs.json_far_date, 400),
    Bomb("commit-deep", "POST", COMMITS, JSON, _commit_of(bombs.json_deep), 400),
    Bomb("commit-many-elements", "POST", COMMITS, JSON, _commit_of(bombs.json_many_elements), 413),
    Bomb("commit-big-number", "POST", COMMITS, JSON, _commit_of(bombs.json_big_number), 400),
    Bomb("commit-nan", "POST", COMMITS, JSON, _commit_of(lambda: b"[NaN]"), 400),
    Bomb("metadata-nan", "PATCH", "{ds}", JSON, lambda: b'{"metadata": {"x": NaN}}', 400),
    Bomb(
        "metadata-big-number",
        "PATCH",
        "{ds}",
        JSON,
        lambda: b'{"metadata": {"x": ' + bombs.TOO_MANY_DIGITS.encode() + b"}}",
        400,
    ),
    Bomb(
        "cursor-deep",
        "GET",
        "{ds}/records?cursor=" + base64.urlsafe_b64encode(b"[" * 5000).decode(),
        JSON,
        lambda: b"",
        400,
    ),
]


@pytest.fixture
def native(server_process: ServerProcess, alice: User) -> Iterator[httpx.Client]:
    """alice's native API client of the server in its own process."""
    with httpx.Client(
        base_url=server_process.url + "/loft/v1",
        headers={"Authorization": f"Bearer {alice.token}"},
        timeout=60,
    ) as client:
        yield client


def _native_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["message"]


@pytest.mark.parametrize("bomb", BOMBS, ids=lambda bomb: bomb.name)
def test_a_bomb_is_refused_quickly_and_cheaply_and_leaves_no_trace(
    server_process: ServerProcess, native: httpx.Client, alice: User, bomb: Bomb
) -> None:
    ds = f"/datasets/{alice.username}/{unique('ds')}"
    made = native.post("/datasets", json={"name": ds.rsplit("/", 1)[1]})
    assert made.status_code == 201, made.text
    before = native.get(ds).json()
    body = bomb.body()

    def send() -> httpx.Response:
        path = bomb.path.format(ds=ds)
        headers = {"Content-Type": bomb.content_type}
        return native.request(bomb.method, path, content=body or None, headers=headers)

    _native_error(refused_cheaply(server_process, send, bomb.status), bomb.status)
    after = native.get(ds).json()  # the server still answers
    assert (after["version"], after["metadata"]) == (before["version"], before["metadata"])


# --- Algorithmia -----------------------------------------------------------------------------

ALGORITHMIA_BOMBS = {
    # (Algorithmia bodies are at most 64 KiB.)
    "deep-acl": b'{"name": "c", "acl": {"read": ' + bombs.json_deep(5000) + b"}}",
    "big-number": b'{"name": "c", "acl": {"read": [' + bombs.TOO_MANY_DIGITS.encode() + b"]}}",
    "nan": b'{"name": "c", "acl": {"read": [NaN]}}',
}


@pytest.mark.parametrize("body", ALGORITHMIA_BOMBS.values(), ids=ALGORITHMIA_BOMBS.keys())
def test_an_algorithmia_json_bomb_is_refused_in_its_shape(
    server_process: ServerProcess, alice: User, body: bytes
) -> None:
    with httpx.Client(
        base_url=server_process.url, headers={"Authorization": f"Simple {alice.token}"}
    ) as algo:

        def send() -> httpx.Response:
            return algo.post("/v1/data/.my", content=body, headers={"Content-Type": JSON})

        response = refused_cheaply(server_process, send, 400)
        assert set(response.json()) == {"error"}
        assert response.json()["error"]["message"] == response.headers["x-error-message"]
        listing = algo.get(f"/v1/data/{alice.username}")  # the server still answers
        assert listing.status_code == 200, listing.text
        assert "c" not in [folder["name"] for folder in listing.json().get("folders", [])]


def test_a_bomb_in_a_json_body_names_the_limit(
    server_process: ServerProcess, native: httpx.Client, alice: User
) -> None:
    """What a client is told: the limit it passed, not "error parsing the body"."""
    deep = native.post(
        f"/datasets/{alice.username}/x/commits",
        content=_commit_of(bombs.json_deep)(),
        headers={"Content-Type": JSON},
    )
    assert "nested deeper than 200 levels" in deep.json()["error"]["message"]
    many = native.post("/datasets", json={"name": "x", "tags": [[]] * 2_100_000})
    assert "more than 2000000 elements" in many.json()["error"]["message"]
