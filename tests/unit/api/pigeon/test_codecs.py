"""dataloft.api.pigeon.codecs: which codec, or HTML, an ``Accept`` header asks for."""

from __future__ import annotations

import json

import pytest

from dataloft.api.pigeon.codecs import CBOR, JSON, JSON_LINES, Codec, encode_value, negotiate

HTML = None

NEGOTIATIONS: list[tuple[str | None, Codec | None]] = [
    # Browsers: nothing in particular, or HTML first.
    (None, HTML),
    ("", HTML),
    ("*/*", HTML),
    ("text/*", HTML),
    ("TEXT/HTML", HTML),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", HTML),
    ("image/png", HTML),  # names nothing we serve
    # HTML weighed against the API types by q-value ...
    ("text/html, application/json;q=0.5", HTML),
    ("text/html;q=0.5, application/json", JSON),
    ("*/*;q=0.1, application/json", JSON),
    ("application/json;q=0.2, text/*;q=0.3", HTML),
    ("text/html;q=0.1, application/cbor", CBOR),
    # ... the earlier-listed type winning a tie.
    ("application/json, */*", JSON),
    ("*/*, application/json", HTML),
    ("application/cbor, application/json", CBOR),
    ("application/json, application/cbor", JSON),
    ("application/json;q=0.5, application/cbor", CBOR),
    ("application/x-ndjson", JSON_LINES),
    ("Application/CBOR; q=1.0", CBOR),
    # q=0 means "not this"; a malformed q counts as 0.
    ("text/html;q=0, application/json;q=0.1", JSON),
    ("application/json;q=0", HTML),
    ("application/json;q=x, application/cbor;q=0.1", CBOR),
    ("application/json;q=nan, application/cbor;q=0.1", CBOR),
    ("application/json;q=2, application/cbor;q=0.1", CBOR),
]


@pytest.mark.parametrize(("accept", "codec"), NEGOTIATIONS)
def test_negotiate(accept: str | None, codec: Codec | None) -> None:
    assert negotiate(accept) is codec


def test_the_json_codecs_tag_integers_javascript_cannot_hold() -> None:
    value = {"safe": 2**53, "big": -(2**53) - 1}
    expected = {"safe": 2**53, "big": {"type": "BigInteger", "data": str(-(2**53) - 1)}}
    assert json.loads(encode_value(value, JSON)) == expected
    assert json.loads(encode_value(value, JSON_LINES)) == expected
