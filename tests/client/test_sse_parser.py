"""The Server-Sent Events parser takes bytes cut anywhere and gives whole messages."""

from __future__ import annotations

from dataloft_client._sse import Message, SSEParser

STREAM = (
    "\ufeff: connected\r\n\r\n"
    'id: 7\nevent: commit\ndata: {"a": "x\u2028y é"}\n\n'
    ": keep-alive\n\n"
    "id: 8\rdata: line one\rdata:line two\r\r"
    'event: close\r\ndata: {"reason": "revoked"}\r\n\r\n'
).encode()
EXPECTED = [
    Message("commit", '{"a": "x\u2028y é"}', "7"),
    Message("message", "line one\nline two", "8"),
    Message("close", '{"reason": "revoked"}', "8"),
]


def test_a_stream_in_one_piece() -> None:
    assert SSEParser().feed(STREAM) == EXPECTED


def test_a_stream_cut_at_every_byte() -> None:
    parser = SSEParser()
    messages = []
    for index in range(len(STREAM)):
        messages.extend(parser.feed(STREAM[index : index + 1]))
    assert messages == EXPECTED


def test_a_message_without_its_blank_line_is_not_given_yet() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 1\ndata: x\n") == []
    assert parser.feed(b"\n") == [Message("message", "x", "1")]
