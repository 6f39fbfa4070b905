"""The cache of encoded bodies: bounded by bytes, least recently used first out, and the
``Accept-Encoding`` reading that decides whether a body goes out gzipped."""

from __future__ import annotations

import gzip

import pytest

from dataloft.api.body_cache import BodyCache, accepts_gzip, gzipped


def test_the_cache_never_holds_more_bytes_than_its_capacity() -> None:
    cache = BodyCache(100)
    for n in range(50):
        cache.put(n, bytes(30))
        assert cache.size <= 100
    assert cache.size == 90
    assert [n for n in range(50) if cache.get(n) is not None] == [47, 48, 49]


def test_the_least_recently_used_body_goes_first() -> None:
    cache = BodyCache(30)
    cache.put("a", b"a" * 10)
    cache.put("b", b"b" * 10)
    cache.put("c", b"c" * 10)
    assert cache.get("a") == b"a" * 10  # now "b" is the least recently used
    cache.put("d", b"d" * 10)
    assert cache.get("b") is None
    assert cache.get("a") == b"a" * 10
    assert cache.get("c") == b"c" * 10
    assert cache.get("d") == b"d" * 10


def test_a_body_larger_than_the_cache_is_not_kept() -> None:
    cache = BodyCache(10)
    cache.put("small", b"12345")
    cache.put("big", bytes(11))
    assert cache.get("big") is None
    assert cache.get("small") == b"12345"


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = BodyCache(10)
    cache.put("k", bytes(8))
    cache.put("k", bytes(6))
    assert cache.size == 6
    assert cache.get("k") == bytes(6)


def test_a_cache_of_zero_bytes_keeps_nothing() -> None:
    cache = BodyCache(0)
    cache.put("k", b"x")
    assert cache.get("k") is None
    assert cache.size == 0


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        (None, False),
        ("", False),
        ("identity", False),
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=nan", False),
        ("gzip;q=bad", False),
        ("deflate, br", False),
    ],
)
def test_accept_encoding_admits_gzip(header: str | None, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


def test_gzipped_bodies_are_deterministic_and_round_trip() -> None:
    body = b'{"a": 1}' * 1000
    assert gzipped(body) == gzipped(body)  # mtime 0: a strong ETag names one byte string
    assert gzip.decompress(gzipped(body)) == body
