"""The pieces of ``api/listings.py`` and the chunk helpers it streams with: a stream gzipped
as it goes decompresses to the stream, small chunks are joined into pieces, and whatever a
streamed listing holds is released however its response ends, before its first piece too.
(Every listing over HTTP: ``tests/functional/test_listing_encoding.py``.)"""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import anyio
import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from dataloft.api.listings import MIN_COMPRESSED, listing, streamed_listing
from dataloft.api.transfer import ClosingStreamingResponse
from dataloft.storage.chunks import coalesced, gzip_chunks


class Source:
    """A stream of numbered lines that records whether it was released."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.closed = False
        self.sent = 0  # lines
        self.bytes = 0

    LONGEST = 40

    def __iter__(self) -> Iterator[bytes]:
        try:
            for n in range(self.lines):
                line = b'{"n": %d, "text": "some words"}\n' % n
                self.sent += 1
                self.bytes += len(line)
                yield line
        finally:
            self.closed = True


def request(accept_encoding: str | None) -> Request:
    headers = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding.encode())]
    return Request({"type": "http", "method": "GET", "headers": headers})


def test_gzip_chunks_decompress_to_the_chunks_and_are_made_as_they_come() -> None:
    source = Source(20_000)
    pieces = list(gzip_chunks(source, 6))
    assert gzip.decompress(b"".join(pieces)) == b"".join(Source(20_000))
    assert len(pieces) > 2  # zlib hands out blocks as it goes, not one at the end
    assert source.closed


def test_gzip_chunks_are_the_same_bytes_every_time() -> None:
    assert b"".join(gzip_chunks(Source(100), 6)) == b"".join(gzip_chunks(Source(100), 6))


def test_closing_gzip_chunks_midway_releases_the_source() -> None:
    source = Source(100_000)
    stream = gzip_chunks(source, 6)
    next(stream)
    stream.close()
    assert source.closed and source.sent < source.lines


def test_coalesced_joins_small_chunks_into_pieces_of_at_least_the_size() -> None:
    pieces = list(coalesced(Source(1000), 1000))
    assert b"".join(pieces) == b"".join(Source(1000))
    assert all(len(piece) >= 1000 for piece in pieces[:-1])
    assert all(len(piece) < 1000 + Source.LONGEST for piece in pieces)  # one chunk past, at most
    assert list(coalesced([], 10)) == []


@pytest.mark.parametrize("accept_encoding", [None, "identity", "gzip"])
def test_a_small_listing_is_sent_as_it_is(accept_encoding: str | None) -> None:
    body = b"x" * (MIN_COMPRESSED - 1)
    response = listing(request(accept_encoding), body, media_type="application/json")
    assert response.body == body
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


def test_a_listing_adds_to_the_vary_it_was_given() -> None:
    body = b"x" * MIN_COMPRESSED
    headers = {"Vary": "Accept", "X-Version": "3"}
    response = listing(request("gzip"), body, media_type="text/html", headers=headers)
    assert response.headers["vary"] == "Accept, Accept-Encoding"
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(bytes(response.body)) == body
    assert response.headers["content-length"] == str(len(response.body))


def test_a_stream_that_ends_within_the_first_bytes_is_sent_whole() -> None:
    source = Source(3)
    response = streamed_listing(request("gzip"), source, media_type="application/x-ndjson")
    assert not isinstance(response, ClosingStreamingResponse)
    assert response.body == b"".join(Source(3))
    assert "content-encoding" not in response.headers
    assert source.closed


def test_a_streamed_listing_takes_only_its_first_bytes_before_it_is_sent() -> None:
    source = Source(100_000)
    response = streamed_listing(request("gzip"), source, media_type="application/x-ndjson")
    assert isinstance(response, ClosingStreamingResponse)
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert source.bytes < MIN_COMPRESSED + Source.LONGEST  # the first bytes, no more
    assert not source.closed


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip"])
def test_a_streamed_listing_closed_before_it_is_sent_releases_its_source(
    accept_encoding: str,
) -> None:
    """A client that goes away before the first piece: the source, started already to take
    the first bytes, is released all the same."""
    source = Source(100_000)
    response = streamed_listing(request(accept_encoding), source, media_type="text/plain")
    assert isinstance(response, ClosingStreamingResponse)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise OSError("the client went away")  # before the headers, even

    scope = {"type": "http", "method": "GET", "headers": [], "asgi": {"spec_version": "2.4"}}
    with pytest.raises(ClientDisconnect):
        anyio.run(response, scope, receive, send)
    assert source.closed
    assert source.bytes < MIN_COMPRESSED + Source.LONGEST  # nothing taken past the first bytes
