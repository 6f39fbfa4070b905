"""Browsers at Pigeon Optics' pages of data are sent to the web UI's page of the same
thing (``api/pigeon/web_pages.py``): a 303 to a URL whose every part is percent-encoded,
only once what was asked is found, and never for API clients or for the pages the web UI
does not have. (Without the web UI, the HTML pages stay: ``test_negotiation.py``.)"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import Dataset, RawClient, basic, cors, put_record
from tests.dialects.pigeon.test_lenses import built, make_lens
from tests.support import unique

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def web(*parts: str) -> str:
    return "/ui/" + "/".join(quote(part, safe="") for part in parts)


@pytest.fixture
def odd(alice: User, po: httpx.Client) -> Dataset:
    """A public dataset, made through the native API, whose name needs escaping in a URL,
    with records whose ids do too."""
    name = unique("my data é #1?")
    made = alice.client.post("/datasets", json={"name": name, "visibility": "public"})
    assert made.status_code == 201, made.text
    ds = Dataset(alice.username, name)
    for record_id in ("plain", "a b/c?d#é%20", ".."):
        # A browser or httpx resolves ".." in a path, "%2E%2E" goes through as it is.
        escaped = "%2E%2E" if record_id == ".." else quote(record_id, safe="")
        url = pigeon(ds, f"/records/{escaped}")
        written = po.put(url, json={"id": record_id}, auth=basic(alice))
        assert written.status_code == 204, written.text
    return ds


def pigeon(ds: Dataset, tail: str = "/") -> str:
    """The dataset's Pigeon Optics URL with its name escaped, which ``Dataset.url`` leaves
    as it is."""
    return f"/datasets/{ds.author}:{quote(ds.name, safe='')}{tail}"


def test_each_page_leads_to_its_web_page(raw: RawClient, odd: Dataset, alice: User) -> None:
    browser = raw(BROWSER)
    page = (odd.author, odd.name)
    record = quote("a b/c?d#é%20", safe="")
    for url, location in (
        ("/datasets/", "/ui/"),
        (f"/datasets/{odd.author}:", web(odd.author)),
        (f"/authors/{odd.author}/", web(odd.author)),
        (pigeon(odd), web(*page)),
        (pigeon(odd, ""), web(*page)),
        (pigeon(odd, "/records/"), web(*page) + "/-/records"),
        (pigeon(odd, "/records/plain"), web(*page) + "/-/record/plain"),
        (pigeon(odd, f"/records/{record}"), web(*page) + f"/-/record/{record}"),
    ):
        response = browser.get(url)
        assert response.status_code == 303, (url, response.text)
        assert response.headers["location"] == location, url
        assert response.headers["vary"] == "Accept"
        cors(response)


def test_the_web_page_shows_what_was_asked(raw: RawClient, odd: Dataset) -> None:
    browser = raw(BROWSER)
    record = quote("a b/c?d#é%20", safe="")
    followed = browser.get(pigeon(odd, f"/records/{record}"), follow_redirects=True)
    assert followed.status_code == 200, followed.text
    assert followed.headers["content-type"].startswith("text/html")
    assert "Record a b/c?d#é%20" in followed.text
    listing = browser.get(pigeon(odd, "/records/"), follow_redirects=True)
    assert listing.status_code == 200 and "a b/c?d#é%20" in listing.text


def test_head_is_answered_as_get(raw: RawClient, odd: Dataset) -> None:
    for accept in (BROWSER, None):
        response = raw(accept).head(pigeon(odd, "/records/plain"))
        assert response.status_code == 303
        assert response.headers["location"] == web(odd.author, odd.name) + "/-/record/plain"
        assert response.content == b""


def test_the_query_is_left_behind(raw: RawClient, odd: Dataset) -> None:
    response = raw(BROWSER).get(pigeon(odd, "/records/"), params={"version": "1", "q": "x"})
    assert response.status_code == 303
    assert response.headers["location"] == web(odd.author, odd.name) + "/-/records"


def test_api_clients_get_the_data_as_before(raw: RawClient, odd: Dataset) -> None:
    for accept in ("application/json", "application/cbor", "text/html;q=0.5, application/json"):
        client = raw(accept)
        for url in (pigeon(odd), pigeon(odd, "/records/"), pigeon(odd, "/records/plain")):
            response = client.get(url)
            assert response.status_code == 200, (accept, url, response.text)
            assert "location" not in response.headers


def test_a_record_id_no_url_can_hold_keeps_its_html_page(raw: RawClient, odd: Dataset) -> None:
    response = raw(BROWSER).get(pigeon(odd, "/records/%2E%2E"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "&quot;id&quot;: &quot;..&quot;" in response.text


def test_what_is_not_found_stays_not_found(
    raw: RawClient, odd: Dataset, alice: User, bob: User
) -> None:
    private = unique("private")
    made = alice.client.post("/datasets", json={"name": private})
    assert made.status_code == 201, made.text
    hidden = Dataset(alice.username, private)
    written = raw().put(hidden.record("r"), json=1, auth=basic(alice))
    assert written.status_code == 204, written.text
    browser = raw(BROWSER)
    for url, auth in (
        (pigeon(odd, "/records/missing"), None),
        (f"/datasets/{alice.username}:no-such-dataset/", None),
        (f"/datasets/{alice.username}:no-such-dataset/records/", None),
        ("/datasets/no-such-author-x:", None),
        ("/authors/no-such-author-x/", None),
        (hidden.url + "/", None),
        (hidden.url + "/", basic(bob)),
        (hidden.records, basic(bob)),
        (hidden.record("r"), basic(bob)),
    ):
        response = browser.get(url, auth=auth)
        assert response.status_code == 404, (url, response.text)
        assert "location" not in response.headers
    # The owner, signed in with Basic, is sent on: the web page asks for its own session.
    assert browser.get(hidden.url + "/", auth=basic(alice)).status_code == 303


def test_pages_the_web_ui_does_not_have_stay(raw: RawClient, odd: Dataset) -> None:
    browser = raw(BROWSER)
    for url in (
        "/auth",
        "/authors/",
        "/lenses/",
        f"/lenses/{odd.author}:",
        pigeon(odd, "/configuration"),
        pigeon(odd, "/export"),
    ):
        response = browser.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("text/html"), url
    # A form that says it means GET is not a browser following a link.
    form = browser.post(pigeon(odd, "/records/plain"), params={"_method": "GET"})
    assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")


def test_a_lens_keeps_its_html_pages(
    raw: RawClient, po: httpx.Client, alice: User, ds: Dataset
) -> None:
    """The web UI has no page for a lens yet; on a dataset's path a lens is not found."""
    put_record(po, alice, ds, "r", {"n": 1})
    lens = make_lens(po, alice, [ds.url], "output('seen', data.n)")
    built(po, lens)
    browser = raw(BROWSER)
    for url in (lens.url + "/", lens.records, lens.record("seen")):
        response = browser.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("text/html"), url
    on_a_datasets_path = browser.get(f"/datasets/{lens.author}:{lens.name}/")
    assert on_a_datasets_path.status_code == 404
