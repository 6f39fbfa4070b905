"""``GET .../as/<format>/<recordID>`` (reference §1.6): a record rendered raw, strings and
buffers as they are, other values encoded by the format's codec, always sandboxed."""

from __future__ import annotations

import cbor2
import httpx

from tests.conftest import User
from tests.dialects.pigeon.conftest import Dataset, error, put_record
from tests.dialects.pigeon.test_lenses import TAG_CODE, built, make_lens


def _as(ds: Dataset, form: str, record_id: str) -> str:
    return f"{ds.url}/as/{form}/{record_id}"


def _sandboxed(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_strings_and_buffers_go_as_they_are(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "page", "<script>alert(1)</script><p>hi</p>")
    put_record(po, alice, ds, "pixel", {"type": "Buffer", "data": [137, 80, 78, 71]})
    html = po.get(_as(ds, "html", "page"))
    assert html.status_code == 200, html.text
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.text == "<script>alert(1)</script><p>hi</p>"
    _sandboxed(html)
    assert html.headers["content-disposition"].startswith("attachment")  # active: a download
    text = po.get(_as(ds, "txt", "page"))
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert "content-disposition" not in text.headers  # passive: shown
    png = po.get(_as(ds, "png", "pixel"))
    assert png.headers["content-type"] == "image/png"
    assert png.content == bytes([137, 80, 78, 71])
    _sandboxed(png)
    by_type = po.get(_as(ds, "image%2Fgif", "pixel"))
    assert by_type.status_code == 200, by_type.text
    assert by_type.headers["content-type"] == "image/gif"


def test_other_values_are_encoded(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "r", {"title": "hello", "n": [1, 2]})
    as_json = po.get(_as(ds, "json", "r"))
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == {"title": "hello", "n": [1, 2]}
    _sandboxed(as_json)
    as_cbor = po.get(_as(ds, "cbor", "r"))
    assert cbor2.loads(as_cbor.content) == {"title": "hello", "n": [1, 2]}
    assert po.get(_as(ds, "application%2Fcbor", "r")).content == as_cbor.content
    error(po.get(_as(ds, "png", "r")), 406)
    error(po.get(_as(ds, "json", "missing")), 404)


def test_a_lens_record_renders_too(po: httpx.Client, alice: User, ds: Dataset) -> None:
    put_record(po, alice, ds, "abc", {"tags": ["cat"]})
    lens = make_lens(po, alice, [ds.url], TAG_CODE)
    built(po, lens)
    response = po.get(f"{lens.url}/as/json/cat")
    assert response.status_code == 200, response.text
    assert response.json() == {"type": "Set", "data": ["abc"]}
