"""dataloft.api.pigeon.links and bodies: the links inside values, and the shapes of a bulk body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest

from dataloft.api.pigeon.bodies import PackedWrite, RawBody, bulk_entries, plan, plan_in_worker
from dataloft.api.pigeon.codecs import CBOR, JSON, JSON_LINES
from dataloft.api.pigeon.links import normalise_link
from dataloft.core.changes import DeleteRecord, PutRecord
from dataloft.core.decoding import DecodeLimits
from dataloft.core.errors import Invalid

HEX = "ab" * 32
LIMITS = DecodeLimits()

# (query as written, query as URLSearchParams re-serialises it). The expected sides were
# taken from a browser-grade URLSearchParams, not from the code under test.
QUERIES = [
    ("", ""),
    ("type=video/mp4", "type=video%2Fmp4"),
    ("name=x~y*z", "name=x%7Ey*z"),  # '~' is escaped, '*' is not
    ("p=-._*!'()~", "p=-._*%21%27%28%29%7E"),
    ("a=1&&b=2&", "a=1&b=2"),  # empty pieces are no pairs
    ("&&", ""),
    ("flag", "flag="),  # no '=': an empty value, and the '=' is always written
    ("=v", "=v"),
    ("a=b=c", "a=b%3Dc"),  # split at the first '=' only
    ("a+b=c+d", "a+b=c+d"),  # '+' is a space, written back as '+'
    ("p=%2B", "p=%2B"),  # an escaped plus stays a plus
    ("a=1&a=2", "a=1&a=2"),  # duplicates and order are kept
    ("p=%41%42", "p=AB"),
    ("p=%c3%a9", "p=%C3%A9"),  # hex comes out upper case
    ("p=%zz&q=%4", "p=%25zz&q=%254"),  # a '%' that is no escape is a literal '%'
    ("p=%ff", "p=%EF%BF%BD"),  # bytes that are not UTF-8 become U+FFFD
    ("p=%e2%82", "p=%EF%BF%BD"),
    ("p=%EF%BB%BF", "p=%EF%BB%BF"),  # a byte order mark is kept, not dropped
    ("p=é", "p=%C3%A9"),
    ("p=🐦", "p=%F0%9F%90%A6"),
    ("p=\ud800", "p=%EF%BF%BD"),  # an unpaired surrogate is U+FFFD, as in a USVString
    ("p=a\u00a0b", "p=a%C2%A0b"),
]


@pytest.mark.parametrize(("written", "normalised"), QUERIES)
def test_the_query_is_normalised_like_url_search_params(written: str, normalised: str) -> None:
    assert normalise_link(f"hash://sha256/{HEX}?{written}") == (
        HEX,
        f"hash://sha256/{HEX}?{normalised}",
    )


def test_the_digest_is_lower_cased() -> None:
    assert normalise_link(f"HASH://SHA256/{HEX.upper()}?type=a%2fb") == (
        HEX,
        f"hash://sha256/{HEX}?type=a%2Fb",
    )


@pytest.mark.parametrize(
    "text",
    [f"hash://sha256/{HEX}", f"hash://sha256/{HEX}?a#b", f"hash://sha256/{HEX}?a?b", f" {HEX}"],
)
def test_strings_that_are_not_links(text: str) -> None:
    assert normalise_link(text) is None


def cbor_sequence(*items: Any) -> bytes:
    return b"".join(cbor2.dumps(item) for item in items)


@pytest.mark.parametrize(
    ("items", "entries"),
    [
        # The ambiguous case: one {id, data} map with a string id is one entry ...
        ([{"id": "solo", "data": 1}], [("solo", 1)]),
        ([{"data": [1], "id": "solo"}], [("solo", [1])]),
        # ... any other lone map is an object map of records.
        ([{"id": 7, "data": 1}], [("id", 7), ("data", 1)]),
        ([{"id": "a", "data": 1, "more": 2}], [("id", "a"), ("data", 1), ("more", 2)]),
        ([{"id": "a"}], [("id", "a")]),
        ([{"a": 1, "b": None}], [("a", 1), ("b", None)]),
        ([{}], []),
        # Sequences of more than one item, or of a pair, are entries.
        ([{"id": "a", "data": 1}, {"id": "b", "data": 2}], [("a", 1), ("b", 2)]),
        ([["a", 1]], [("a", 1)]),
        ([], []),
    ],
)
def test_cbor_bulk_bodies(items: list[Any], entries: list[tuple[str, Any]]) -> None:
    assert bulk_entries(cbor_sequence(*items), CBOR, LIMITS) == entries


def test_a_json_object_is_always_an_object_map() -> None:
    body = json.dumps({"id": "solo", "data": 1}).encode()
    assert bulk_entries(body, JSON, LIMITS) == [("id", "solo"), ("data", 1)]


def test_a_one_line_json_lines_body_is_one_entry() -> None:
    assert bulk_entries(b'{"id": "solo", "data": 1}\n', JSON_LINES, LIMITS) == [("solo", 1)]


LINK = "hash://sha256/" + "cd" * 32 + "?type=text%2Fplain"


@pytest.mark.parametrize(
    "body",
    [
        {"a": {"x": 1}, "gone": None, "\ud800odd": [1, 2], "linked": {"f": LINK}, "é": "v"},
        {"a": {"x": 1}, "gone": None, "b": [1, 2], "linked": {"f": LINK}, "c": "v"},  # ASCII ids
    ],
)
def test_a_packed_write_unpacks_to_the_same_changes(body: dict[str, Any]) -> None:
    """What a worker process sends back: the changes ``plan`` made, ids (lone surrogates
    too, refused later by the commit with its usual message), encoded values, deletions,
    links."""
    raw = json.dumps(body).encode()
    write = plan(RawBody(raw, JSON, LIMITS), None, None, overwrite=False)
    unpacked = PackedWrite.of(write).unpack()
    assert unpacked.links == write.links == {LINK: "cd" * 32}
    assert [c.record_id for c in unpacked.changes()] == list(body)
    assert len(unpacked.changes()) == len(write.changes()) == 5
    for mine, theirs in zip(unpacked.changes(), write.changes(), strict=True):
        assert type(mine) is type(theirs)
        if isinstance(theirs, DeleteRecord):
            assert mine == theirs
            continue
        assert isinstance(mine, PutRecord) and isinstance(theirs, PutRecord)
        assert (mine.record_id, mine.encoded, mine.metadata, mine.attachments) == (
            theirs.record_id,
            theirs.encoded,
            theirs.metadata,
            theirs.attachments,
        )


def test_planning_in_a_worker_reads_the_body_from_its_file(tmp_path: Path) -> None:
    raw = json.dumps({"a": 1, "b": None}).encode()
    path = tmp_path / "body"
    path.write_bytes(raw)
    packed = plan_in_worker(str(path), "application/json", LIMITS, None, None, False)
    assert (
        packed.unpack().changes()[1]
        == plan(RawBody(raw, JSON, LIMITS), None, None, overwrite=False).changes()[1]
    )


@pytest.mark.parametrize("body", [{"a": 1, 2: "b"}, {1: "a"}])
def test_an_object_maps_keys_must_be_strings(body: dict[Any, Any]) -> None:
    with pytest.raises(Invalid, match="record ids are strings, not int"):
        bulk_entries(cbor2.dumps(body), CBOR, LIMITS)
