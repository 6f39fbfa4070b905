"""Pigeon Optics size limits (reference §0, §5.1): records, bodies and attachments over
their settings are refused with 413 in the dialect's error shape, while the body streams
in, and nothing is saved. A second server shares the test database with small limits."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.dialects.pigeon.conftest import Dataset, basic, create_dataset, error, state
from tests.support import LiveServer

RECORD_LIMIT = 2000
BODY_LIMIT = 5000
ATTACHMENT_LIMIT = 3000


@pytest.fixture(scope="module")
def small(settings: Settings) -> Iterator[httpx.Client]:
    """A Pigeon Optics client of a server with small limits, on the same database."""
    limited = settings.model_copy(
        update={
            "max_record_size": RECORD_LIMIT,
            "max_json_body": BODY_LIMIT,
            "max_attachment_size": ATTACHMENT_LIMIT,
        }
    )
    core = Loft(limited, migrate=False)
    live = LiveServer(create_app(limited, core)).start()
    try:
        with httpx.Client(
            base_url=live.url, headers={"Accept": "application/json"}, timeout=30
        ) as client:
            yield client
    finally:
        live.stop()
        core.close()


@pytest.fixture
def sds(small: httpx.Client, alice: User) -> Dataset:
    return create_dataset(small, alice)


def test_a_record_over_the_limit_is_413(small: httpx.Client, alice: User, sds: Dataset) -> None:
    before = state(small, alice, sds)
    big = {"text": "x" * (RECORD_LIMIT + 10)}
    response = small.put(sds.record("r"), json=big, auth=basic(alice))
    assert str(RECORD_LIMIT) in error(response, 413)
    # Within the body limit but a record over its own: refused by the store, all or nothing.
    in_bulk = {"fine": 1, "huge": "y" * (RECORD_LIMIT + 10)}
    assert len(json.dumps(in_bulk)) < BODY_LIMIT
    response = small.post(sds.records, json=in_bulk, auth=basic(alice))
    assert str(RECORD_LIMIT) in error(response, 413)
    assert state(small, alice, sds) == before


def test_a_bulk_body_over_the_limit_is_413(small: httpx.Client, alice: User, sds: Dataset) -> None:
    before = state(small, alice, sds)
    body = json.dumps({f"r{n}": n for n in range(1000)}).encode()
    assert len(body) > BODY_LIMIT
    headers = {"Content-Type": "application/json"}
    declared = small.post(sds.records, content=body, headers=headers, auth=basic(alice))
    error(declared, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off as it streams
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    chunked = small.post(sds.records, content=chunks(), headers=headers, auth=basic(alice))
    error(chunked, 413)
    assert state(small, alice, sds) == before


def test_an_attachment_over_the_limit_is_413(
    small: httpx.Client, alice: User, sds: Dataset
) -> None:
    before = state(small, alice, sds)
    files = [
        ("body", ("b", b'{"v": "cid:big"}', "application/json")),
        ("attachment", ("big", os.urandom(ATTACHMENT_LIMIT + 1), "video/mp4")),
    ]
    response = small.put(sds.record("r"), files=files, auth=basic(alice))
    assert str(ATTACHMENT_LIMIT) in error(response, 413)
    body_part = [("body", ("b", json.dumps("z" * (RECORD_LIMIT + 1)).encode(), "text/json"))]
    error(small.put(sds.record("r"), files=body_part, auth=basic(alice)), 413)
    assert state(small, alice, sds) == before


def test_too_many_parts_is_413(small: httpx.Client, alice: User, sds: Dataset) -> None:
    parts = [(f"field{n}", (None, b"1")) for n in range(1001)]
    error(small.put(sds.record("r"), files=parts, auth=basic(alice)), 413)


def test_multipart_fields_count_together_against_the_body_limit(
    small: httpx.Client, alice: User, sds: Dataset
) -> None:
    # Three fields (a bulk write's records), each under the body limit, together over it:
    # every part kept in memory counts, or a thousand parts could each hold a body's worth.
    before = state(small, alice, sds)
    each = RECORD_LIMIT - 100
    assert 3 * each > BODY_LIMIT
    parts = [(f"r{n}", (None, b"x" * each)) for n in range(3)]
    response = small.post(sds.records, files=parts, auth=basic(alice))
    assert str(BODY_LIMIT) in error(response, 413)
    assert state(small, alice, sds) == before
