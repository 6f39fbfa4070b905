"""Pigeon Optics content negotiation, pinned with raw HTTP: browsers (no ``Accept``,
``text/html``, ``*/*``) are sent to the web UI's page, or get HTML where it has none; API
clients get JSON, CBOR or JSON Lines by ``Accept`` (with q-values), errors included;
``?_method=`` lets a POST act as PUT or DELETE."""

from __future__ import annotations

import json

import cbor2
import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    CBOR,
    NDJSON,
    Dataset,
    RawClient,
    WithoutWeb,
    basic,
    cors,
    index,
    put_record,
    value,
)
from tests.support import unique


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


@pytest.fixture
def filled(po: httpx.Client, alice: User, ds: Dataset) -> Dataset:
    put_record(po, alice, ds, "r", {"b": {"type": "Buffer", "data": [1, 2]}, "n": 1})
    return ds


BROWSERS = [
    None,
    "text/html",
    "*/*",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
]
CBOR_ACCEPTS = [
    "application/json;q=0.5, application/cbor",
    "application/cbor",
    "application/x-cbor",
    "text/html;q=0.1, application/cbor",
    "application/cbor, application/json",
]
JSON_ACCEPTS = [
    "application/json",
    "application/cbor;q=0.5, application/json",
    "application/json, application/cbor",
    "text/json",
    "*/*;q=0.1, application/json",
]


def test_browsers_are_sent_to_the_web_pages(raw: RawClient, filled: Dataset) -> None:
    """(The redirects themselves, in detail: ``test_web_pages.py``.)"""
    page = f"/ui/{filled.author}/{filled.name}"
    for accept in BROWSERS:
        client = raw(accept)
        for url, location in (
            (filled.url + "/", page),
            (filled.records, page + "/-/records"),
            (filled.record("r"), page + "/-/record/r"),
            ("/datasets/", "/ui/"),
        ):
            response = client.get(url)
            assert response.status_code == 303, (accept, url, response.text)
            assert response.headers["location"] == location, (accept, url)
            cors(response)


def test_browsers_get_html_where_the_web_ui_has_no_page(raw: RawClient, filled: Dataset) -> None:
    for accept in BROWSERS:
        client = raw(accept)
        for url in (filled.url + "/configuration", "/authors/"):
            response = client.get(url)
            assert response.status_code == 200, (accept, url, response.text)
            assert media_type(response) == "text/html", (accept, url)
            assert response.text.lstrip().lower().startswith("<!doctype html")
            cors(response)


def test_browsers_get_html_without_the_web_ui(without_web: WithoutWeb) -> None:
    ds, (author, _) = without_web.dataset({"r": {"n": 1}})
    for accept in BROWSERS:
        with without_web.client(accept) as client:
            for url in (
                ds.url + "/",
                ds.records,
                ds.record("r"),
                "/datasets/",
                f"/datasets/{author}:",
                f"/authors/{author}/",
            ):
                response = client.get(url)
                assert response.status_code == 200, (accept, url, response.text)
                assert media_type(response) == "text/html", (accept, url)
                assert response.text.lstrip().lower().startswith("<!doctype html")
                cors(response)


def test_cbor_by_accept(raw: RawClient, filled: Dataset) -> None:
    for accept in CBOR_ACCEPTS:
        response = raw(accept).get(filled.record("r"))
        assert response.status_code == 200
        assert media_type(response) == CBOR, accept
        assert cbor2.loads(response.content) == {"b": b"\x01\x02", "n": 1}
        cors(response)


def test_json_by_accept(raw: RawClient, filled: Dataset) -> None:
    for accept in JSON_ACCEPTS:
        response = raw(accept).get(filled.record("r"))
        assert response.status_code == 200
        assert media_type(response) == "application/json", accept
        assert response.json() == {"b": {"type": "Buffer", "data": [1, 2]}, "n": 1}


def test_the_record_index_as_cbor(raw: RawClient, po: httpx.Client, filled: Dataset) -> None:
    version, records = index(po, filled)
    response = raw(CBOR).get(filled.records)
    assert response.status_code == 200
    assert media_type(response) == CBOR
    assert response.headers["x-version"] == str(version)
    assert response.headers["etag"] == f'"{version}"'
    assert cbor2.loads(response.content) == records


@pytest.mark.parametrize("accept", [NDJSON, "application/ndjson", "application/jsonlines"])
def test_the_record_index_as_json_lines(
    raw: RawClient, po: httpx.Client, filled: Dataset, accept: str
) -> None:
    version, records = index(po, filled)
    response = raw(accept).get(filled.records)
    assert response.status_code == 200
    assert media_type(response) in (NDJSON, "application/ndjson", "application/jsonlines")
    assert response.headers["x-version"] == str(version)
    assert response.content.endswith(b"\n")
    lines = [json.loads(line) for line in response.content.splitlines() if line.strip()]
    assert lines == [records]


def test_listings_in_cbor(raw: RawClient, alice: User, filled: Dataset) -> None:
    client = raw(CBOR)
    assert filled.name in cbor2.loads(client.get("/datasets/").content)[alice.username]
    assert cbor2.loads(client.get(f"/datasets/{alice.username}:").content) == [filled.name]
    info = cbor2.loads(client.get(filled.url + "/").content)
    assert info["name"] == filled.name
    assert set(info["records"]) == {"r"}


def test_errors_in_cbor_for_cbor_only_clients(raw: RawClient, filled: Dataset) -> None:
    client = raw(CBOR)
    one, as_cbor = cbor2.dumps(1), {"Content-Type": CBOR}
    cases: list[tuple[httpx.Response, int, str | None]] = [
        (client.get(filled.record("missing")), 404, "Record Not Found"),
        (client.put(filled.record("x"), content=one, headers=as_cbor), 401, None),
        (client.post(filled.record("x"), content=one, headers=as_cbor), 405, None),
        (client.get(f"/datasets/{unique('nobody')}:"), 404, "Author account name doesn't exist"),
    ]
    for response, status, message in cases:
        assert response.status_code == status
        assert media_type(response) == CBOR
        body = cbor2.loads(response.content)
        assert set(body) == {"error", "stack"}
        assert body["stack"] is False
        assert isinstance(body["error"], str)
        if message is not None:
            assert body["error"] == message
        cors(response)


def test_a_basic_credentials_error_in_cbor(raw: RawClient, alice: User, filled: Dataset) -> None:
    response = raw(CBOR).get(filled.records, auth=(alice.username, "wrong-password"))
    assert response.status_code == 400
    assert media_type(response) == CBOR
    body = cbor2.loads(response.content)
    assert body["error"].startswith("Invalid credentials supplied with Basic HTTP authentication")
    assert body["stack"] is False


def test_an_error_in_json_lines(raw: RawClient, filled: Dataset) -> None:
    response = raw(NDJSON).get(filled.record("missing"))
    assert response.status_code == 404
    assert media_type(response) == NDJSON
    lines = [json.loads(line) for line in response.content.splitlines() if line.strip()]
    assert lines == [{"error": "Record Not Found", "stack": False}]


def test_a_json_lines_record_write(po: httpx.Client, alice: User, ds: Dataset) -> None:
    response = po.put(
        ds.record("j"),
        content=b'{"from": "jsonl"}\n',
        headers={"Content-Type": NDJSON},
        auth=basic(alice),
    )
    assert response.status_code == 204, response.text
    assert value(po, ds, "j") == {"from": "jsonl"}


def test_method_override_on_a_record(po: httpx.Client, alice: User, ds: Dataset) -> None:
    response = po.post(
        ds.record("o"),
        params={"_method": "put"},
        content=cbor2.dumps({"via": "override"}),
        headers={"Content-Type": CBOR},
        auth=basic(alice),
    )
    assert response.status_code == 204, response.text
    assert value(po, ds, "o") == {"via": "override"}


def test_method_override_on_the_record_index(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "gone", 1)
    response = po.post(ds.records, params={"_method": "PUT"}, json={"only": 1}, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert set(index(po, ds)[1]) == {"only"}


def test_method_override_deletes_a_dataset(po: httpx.Client, alice: User) -> None:
    name = unique("ds")
    po.put("/datasets/create", json={"name": name}, auth=basic(alice))
    url = f"/datasets/{alice.username}:{name}/"
    response = po.post(url, params={"_method": "DELETE"}, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert po.get(url).status_code == 404


def test_a_preferred_text_html_wins_over_json(raw: RawClient, filled: Dataset) -> None:
    response = raw("text/html, application/json;q=0.5").get(filled.record("r"))
    assert response.status_code == 303  # to the record's page
