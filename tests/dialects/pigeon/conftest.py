"""Fixtures and helpers for the Pigeon Optics dialect: raw httpx clients on the server's
root that speak the way Pigeon Optics clients do (HTTP Basic, ``Accept: application/json``),
a fresh public dataset of alice's, readers for the record index and the native API's view
of the same dataset, and a server without the web UI (``WithoutWeb``). ``make_user`` (so
``alice`` and ``bob``) is overridden here only to share one HTTP transport: these tests
make many short-lived clients."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import LiveServer, own_server, unique

HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHALLENGE = 'Basic realm="PigeonOptics"'
NDJSON = "application/x-ndjson"
CBOR = "application/cbor"

RawClient = Callable[..., httpx.Client]


@dataclass(frozen=True)
class Dataset:
    """A Pigeon Optics dataset ``author:name``, and where both APIs keep it."""

    author: str
    name: str

    @property
    def url(self) -> str:
        """The collection's Pigeon Optics path, without the trailing slash."""
        return f"/datasets/{self.author}:{self.name}"

    @property
    def records(self) -> str:
        return f"{self.url}/records/"

    def record(self, record_id: str) -> str:
        return f"{self.url}/records/{quote(record_id, safe='')}"

    @property
    def native(self) -> str:
        """The same dataset on the native API (relative to ``/loft/v1``)."""
        return f"/datasets/{self.author}/{self.name}"


def basic(user: User) -> tuple[str, str]:
    return (user.username, user.password)


@pytest.fixture(scope="session")
def transport() -> Iterator[httpx.HTTPTransport]:
    """One connection pool for all the raw clients: a new httpx client is cheap with it
    (without, each one builds its own TLS context, which costs more than most requests)."""
    with httpx.HTTPTransport() as shared:
        yield shared


@pytest.fixture
def make_user(
    server: LiveServer, loft: Loft, transport: httpx.HTTPTransport
) -> Callable[..., User]:
    """``tests.conftest.make_user``, but the users' native clients share ``transport``
    (these tests make a user or two each; a TLS context apiece would double their cost)."""

    def factory(prefix: str = "u", *, is_admin: bool = False) -> User:
        username, password = unique(prefix), "password-" + unique()
        loft.accounts.create_user(SYSTEM, username, password, is_admin=is_admin)
        token = loft.auth.create_token(SYSTEM, username=username, name="tests").secret
        client = httpx.Client(
            base_url=server.url + "/loft/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            transport=transport,
        )
        return User(username, password, token, client)

    return factory


@pytest.fixture
def raw(server: LiveServer, transport: httpx.HTTPTransport) -> RawClient:
    """``raw(accept="application/json")``: a new httpx client on the server's root (so
    cookies never leak between clients). ``accept=None`` sends no ``Accept`` at all. (Not
    closed: closing one would close the shared transport.)"""

    def factory(accept: str | None = "application/json") -> httpx.Client:
        client = httpx.Client(base_url=server.url, timeout=30, transport=transport)
        del client.headers["accept"]
        if accept is not None:
            client.headers["accept"] = accept
        return client

    return factory


@pytest.fixture
def po(raw: RawClient) -> httpx.Client:
    """A Pigeon Optics API client: ``Accept: application/json``, no credentials (pass
    ``auth=basic(user)`` on the requests that need them)."""
    return raw()


@dataclass(frozen=True)
class WithoutWeb:
    """A server of its own whose dialects leave out the web UI: there Pigeon Optics
    answers browsers with its own HTML pages, as it does wherever the web UI has no page
    for what they asked (``api/pigeon/web_pages.py``)."""

    server: LiveServer
    loft: Loft

    def client(self, accept: str | None = None) -> httpx.Client:
        """A client sending ``accept`` (nothing, for None); close it after use."""
        client = httpx.Client(base_url=self.server.url, timeout=30)
        del client.headers["accept"]
        if accept is not None:
            client.headers["accept"] = accept
        return client

    def author(self) -> tuple[str, str]:
        """A new account's name and password, for Basic."""
        username, password = unique("carol"), "password-" + unique()
        self.loft.accounts.create_user(SYSTEM, username, password)
        return username, password

    def dataset(self, records: dict[str, Any]) -> tuple[Dataset, tuple[str, str]]:
        """A new dataset of a new author holding ``records``, and the author's credentials."""
        author = self.author()
        with self.client("application/json") as po:
            name = unique("ds")
            made = po.put("/datasets/create", json={"name": name}, auth=author)
            assert made.status_code == 303, made.text
            ds = Dataset(author[0], name)
            written = po.post(ds.records, json=records, auth=author)
            assert written.status_code == 204, written.text
        return ds, author


@pytest.fixture(scope="module")
def without_web(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WithoutWeb]:
    dialects = tuple(name for name in settings.dialects if name != "web")
    directory = tmp_path_factory.mktemp("without-web")
    with own_server(settings, directory, dialects=dialects) as (live, loft):
        yield WithoutWeb(live, loft)


def create_dataset(po: httpx.Client, user: User, memo: str = "", name: str = "") -> Dataset:
    name = name or unique("ds")
    response = po.put("/datasets/create", json={"name": name, "memo": memo}, auth=basic(user))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/datasets/{user.username}:{name}/"
    return Dataset(user.username, name)


@pytest.fixture
def ds(po: httpx.Client, alice: User) -> Dataset:
    """A fresh (public) dataset of alice's, made through Pigeon Optics: version 0."""
    return create_dataset(po, alice, memo="a test dataset")


def cors(response: httpx.Response) -> None:
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = response.headers["access-control-allow-headers"]
    assert {h.strip().lower() for h in allowed.split(",")} >= {
        "content-type",
        "accept",
        "authorization",
    }


def error(response: httpx.Response, status: int) -> str:
    """Assert a Pigeon Optics JSON error: the status, ``{"error": <message>, "stack":
    false}`` and the CORS headers; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = response.json()
    assert set(body) == {"error", "stack"}, body
    assert body["stack"] is False
    message = body["error"]
    assert isinstance(message, str)
    assert message
    cors(response)
    return message


def challenge(response: httpx.Response) -> None:
    """A 401 that asks for HTTP Basic in the PigeonOptics realm."""
    error(response, 401)
    assert CHALLENGE in response.headers["www-authenticate"]


def put_record(po: httpx.Client, user: User, ds: Dataset, record_id: str, value: Any) -> None:
    response = po.put(ds.record(record_id), json=value, auth=basic(user))
    assert response.status_code == 204, response.text
    assert response.content == b""
    cors(response)


def bulk(
    po: httpx.Client,
    user: User,
    ds: Dataset,
    body: Any = None,
    *,
    method: str = "POST",
    content: bytes | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    """A bulk write: ``body`` as JSON, or ``content`` with ``content_type``."""
    if content is None:
        return po.request(method, ds.records, json=body, auth=basic(user))
    headers = {"Content-Type": content_type}
    return po.request(method, ds.records, content=content, headers=headers, auth=basic(user))


def index(po: httpx.Client, ds: Dataset) -> tuple[int, dict[str, Any]]:
    """The record index and its ``X-Version`` (checking ``ETag`` agrees)."""
    response = po.get(ds.records)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    version = int(response.headers["x-version"])
    assert response.headers["etag"] == f'"{version}"'
    body: dict[str, Any] = response.json()
    for meta in body.values():
        assert set(meta) == {"hash", "links", "version"}, meta
        assert HEX64.fullmatch(meta["hash"]), meta
        assert isinstance(meta["version"], int)
        assert 1 <= meta["version"] <= version
    return version, body


def versions(po: httpx.Client, ds: Dataset) -> dict[str, int]:
    """Each record's version."""
    return {record_id: meta["version"] for record_id, meta in index(po, ds)[1].items()}


def value(po: httpx.Client, ds: Dataset, record_id: str) -> Any:
    response = po.get(ds.record(record_id))
    assert response.status_code == 200, response.text
    return response.json()


def native_versions(user: User, ds: Dataset) -> list[int]:
    """The version numbers the native API lists, newest first."""
    response = user.client.get(f"{ds.native}/versions", params={"limit": 1000})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return [item["number"] for item in page["items"]]


def native_records(user: User, ds: Dataset) -> dict[str, dict[str, Any]]:
    """The native API's record entries, by id."""
    response = user.client.get(f"{ds.native}/records", params={"limit": 1000})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return {item["path"]: item for item in page["items"]}


def upload_blob(user: User, data: bytes) -> str:
    """Put bytes in the blob store through the native API; returns their sha256."""
    digest = hashlib.sha256(data).hexdigest()
    response = user.client.put(f"/blobs/{digest}", content=data)
    assert response.status_code in (200, 201), response.text
    return digest


def state(po: httpx.Client, user: User, ds: Dataset) -> tuple[int, dict[str, Any], list[int]]:
    """Everything a failed write must leave alone: the index, its version and the
    native history."""
    version, records = index(po, ds)
    return version, records, native_versions(user, ds)
