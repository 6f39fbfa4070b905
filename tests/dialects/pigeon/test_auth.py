"""Pigeon Optics accounts and sessions, pinned with raw HTTP: ``POST /auth`` (register or
log in, the ``dataloft_session`` cookie, the 303 to a local ``return``), ``POST
/auth/logout`` revoking the session, HTTP Basic on any request (a wrong password is a 400
in this system), the 401 challenge, and CORS on every response."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    CHALLENGE,
    Dataset,
    RawClient,
    basic,
    challenge,
    cors,
    error,
)
from tests.support import unique

SESSION = "dataloft_session"
BASIC_ERROR = "Invalid credentials supplied with Basic HTTP authentication: "


def session_cookie(response: httpx.Response) -> str:
    """The session cookie a login set: HttpOnly, non-empty."""
    assert response.status_code == 303, response.text
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION}=")]
    assert len(headers) == 1, response.headers
    attributes = [part.strip().lower() for part in headers[0].split(";")]
    assert "httponly" in attributes
    value = headers[0].split(";")[0].partition("=")[2]
    assert value
    assert value.strip('"')
    return value


def register(raw: RawClient, return_to: str | None = None) -> tuple[str, str, httpx.Response]:
    name, password = unique("carol"), "password-" + unique()
    form = {"name": name, "password": password, "register": "1"}
    if return_to is not None:
        form["return"] = return_to
    return name, password, raw().post("/auth", data=form)


def with_cookie(raw: RawClient, cookie: str) -> httpx.Client:
    client = raw()
    client.headers["Cookie"] = f"{SESSION}={cookie}"
    return client


def no_session_cookie(response: httpx.Response) -> None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{SESSION}="):
            value = header.split(";")[0].partition("=")[2].strip('"')
            assert not value, header


# --- POST /auth ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("return_to", "location"),
    [
        ("/x", "/x"),
        ("/datasets/", "/datasets/"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("evil.example", "/"),
    ],
    ids=["local", "local-deeper", "absent", "absolute", "protocol-relative", "relative"],
)
def test_register_sets_a_session_cookie_and_redirects_locally(
    raw: RawClient, return_to: str | None, location: str
) -> None:
    _, _, response = register(raw, return_to)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == location
    session_cookie(response)
    cors(response)


def test_the_session_cookie_alone_authorises_writes_until_logout(raw: RawClient) -> None:
    name, _, response = register(raw)
    cookie = session_cookie(response)
    browser = with_cookie(raw, cookie)

    dataset = unique("ds")
    created = browser.put("/datasets/create", json={"name": dataset, "memo": "by cookie"})
    assert created.status_code == 303, created.text
    assert created.headers["location"] == f"/datasets/{name}:{dataset}/"
    written = browser.put(f"/datasets/{name}:{dataset}/records/r", json={"by": "cookie"})
    assert written.status_code == 204, written.text
    assert raw().get(f"/datasets/{name}:{dataset}/records/r").json() == {"by": "cookie"}

    logout = browser.post("/auth/logout", params={"return": "/datasets/"})
    assert logout.status_code == 303
    assert logout.headers["location"] == "/datasets/"
    cors(logout)
    cleared = [h for h in logout.headers.get_list("set-cookie") if h.startswith(f"{SESSION}=")]
    assert cleared
    assert "max-age=0" in cleared[0].lower()

    # The same cookie, replayed: revoked on the server, not just forgotten by the browser.
    replay = with_cookie(raw, cookie)
    challenge(replay.put("/datasets/create", json={"name": unique("ds")}))
    challenge(replay.put(f"/datasets/{name}:{dataset}/records/r", json={"by": "replay"}))
    assert raw().get(f"/datasets/{name}:{dataset}/records/r").json() == {"by": "cookie"}


def test_logout_without_a_session_redirects_home(raw: RawClient) -> None:
    response = raw().post("/auth/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cors(response)


@pytest.mark.parametrize("return_to", ["https://evil.example/", "//evil.example"])
def test_logout_never_redirects_to_another_site(raw: RawClient, return_to: str) -> None:
    response = raw().post("/auth/logout", params={"return": return_to})
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_json_login_of_an_existing_account(raw: RawClient, alice: User) -> None:
    response = raw().post(
        "/auth", json={"name": alice.username, "password": alice.password, "return": "/y"}
    )
    assert response.headers["location"] == "/y"
    cookie = session_cookie(response)
    dataset = unique("ds")
    created = with_cookie(raw, cookie).put("/datasets/create", json={"name": dataset})
    assert created.status_code == 303, created.text
    assert created.headers["location"] == f"/datasets/{alice.username}:{dataset}/"


def test_form_login_of_a_registered_account(raw: RawClient) -> None:
    name, password, first = register(raw)
    session_cookie(first)
    again = raw().post("/auth", data={"name": name, "password": password})
    second = session_cookie(again)
    assert second != session_cookie(first)


@pytest.mark.parametrize("encoding", ["form", "json"])
def test_a_wrong_password_sets_no_cookie(raw: RawClient, alice: User, encoding: str) -> None:
    body = {"name": alice.username, "password": "not-the-password"}
    client = raw()
    response = (
        client.post("/auth", data=body) if encoding == "form" else client.post("/auth", json=body)
    )
    assert 400 <= response.status_code < 500, response.text
    no_session_cookie(response)
    cors(response)


def test_an_unknown_account_sets_no_cookie(raw: RawClient) -> None:
    response = raw().post("/auth", data={"name": unique("nobody"), "password": "password-x1"})
    assert 400 <= response.status_code < 500, response.text
    no_session_cookie(response)


def test_registering_a_taken_name_is_refused(raw: RawClient, alice: User) -> None:
    response = raw().post(
        "/auth", data={"name": alice.username, "password": "password-other", "register": "1"}
    )
    assert 400 <= response.status_code < 500, response.text
    no_session_cookie(response)


# --- HTTP Basic ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_bad_basic_credentials_are_400(
    raw: RawClient, alice: User, ds: Dataset, who: str, method: str
) -> None:
    auth = (alice.username, "wrong-password") if who == "wrong-password" else (unique(), "pw")
    if method == "GET":
        response = raw().get(ds.records, auth=auth)
    else:
        response = raw().put(ds.record("x"), json=1, auth=auth)
    message = error(response, 400)
    assert message.startswith(BASIC_ERROR), message
    assert len(message) > len(BASIC_ERROR)
    assert raw().get(ds.record("x")).status_code == 404


def test_good_basic_credentials_write(raw: RawClient, alice: User, ds: Dataset) -> None:
    response = raw().put(ds.record("x"), json=1, auth=basic(alice))
    assert response.status_code == 204, response.text


WRITES: list[tuple[str, str, object]] = [
    ("PUT", "/datasets/create", {"name": "x"}),
    ("PUT", "{ds}/records/x", 1),
    ("POST", "{ds}/records/", {"x": 1}),
    ("PUT", "{ds}/records/", {"x": 1}),
    ("DELETE", "{ds}/records/x", None),
    ("PUT", "{ds}/configuration", {"memo": "m"}),
    ("DELETE", "{ds}/", None),
    ("POST", "{ds}/records/x?_method=PUT", 1),
]


def test_a_write_without_credentials_is_a_401_challenge(raw: RawClient, ds: Dataset) -> None:
    client = raw()
    for method, path, body in WRITES:
        url = path.format(ds=ds.url)
        if body is None:
            response = client.request(method, url)
        else:
            response = client.request(method, url, json=body)
        challenge(response)
        assert response.headers["www-authenticate"].startswith(CHALLENGE), (method, path)
    assert client.get(ds.records).json() == {}


# --- CORS ------------------------------------------------------------------------------------


def test_every_response_allows_any_origin(
    raw: RawClient, make_user: Callable[..., User], ds: Dataset
) -> None:
    bob = make_user("bob")
    client = raw()
    responses = [
        client.get("/datasets/"),
        client.get("/authors/"),
        client.get(ds.url + "/"),
        client.get(ds.records),
        client.get(ds.record("missing")),  # 404
        client.get("/datasets/" + unique("nobody") + ":"),  # 404
        client.put(ds.record("x"), json=1),  # 401
        client.put(ds.record("x"), json=1, auth=(bob.username, "wrong")),  # 400
        client.delete(ds.url + "/", auth=basic(bob)),  # 403
        client.post(ds.record("x")),  # 405
        client.get("/datasets/create"),  # 405
        client.post("/auth/logout"),  # 303
        raw(accept=None).get(ds.url + "/"),  # HTML
    ]
    for response in responses:
        cors(response)


def test_a_cors_preflight_succeeds(raw: RawClient, ds: Dataset) -> None:
    response = raw().options(
        ds.record("x"),
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert 200 <= response.status_code < 300, response.text
    cors(response)


def test_reserved_author_names_cannot_be_registered(raw: RawClient) -> None:
    for name in ("system", "root", "support"):
        response = raw().post(
            "/auth", data={"name": name, "password": "password-" + unique(), "register": "1"}
        )
        assert 400 <= response.status_code < 500, (name, response.status_code)
        no_session_cookie(response)
