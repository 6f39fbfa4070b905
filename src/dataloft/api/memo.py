"""``AnswerMemo``: the answers to repeated reads, kept while the database is unchanged.

A client that reads the same small record again and again (a dashboard polling it, a data
loader reading an index record per batch) made the server authenticate the token, check
access, look the entry up and render it every time, about 30 µs of Python per request,
to send the same bytes. A handler marked ``memo`` (``api/pipeline.py``) lets its answer
be kept, and the same request is then answered from memory until anything is committed.

What makes a kept answer right:

- **Same request.** The key is the method, the raw path and query, and every header, so
  a different caller, ``Accept``, ``If-None-Match`` or ``Origin`` is another key. The
  headers that carry secrets (``Authorization``, ``Cookie``) enter the key as their
  sha256, so no credential is kept in memory beyond the request that sent it.
- **Same database.** The answer is kept with the database's mark read *before* the
  handler ran (``Database.state_mark``: on SQLite, ``data_version``, which changes with
  every commit of any process, and this process's own commit count) and given out only
  while the mark is unchanged: a write, a revoked token, a changed membership or
  visibility ends it. There is no such mark on PostgreSQL, where several processes share
  the database: nothing is kept there.
- **Still valid credentials.** An answer to a token is kept no longer than the token
  lives (``Credential.expires_at``); the pipeline keeps none for a password or cookie.
- **A handler that reads nothing else.** ``memo`` handlers answer from the request, the
  database and content-addressed blobs only (see ``pipeline.memo``).

Only complete answers of status 200 or 304 with at most ``MAX_BODY`` bytes are kept, at
most ``MAX_ENTRIES`` of them (about 8 MiB), the oldest going first. The edge middleware
(security and CORS headers) wraps the memo, so a kept answer gets them as a fresh one does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from starlette.types import Message, Scope, Send

from dataloft.bounded import put_bounded

# Set in the scope by the pipeline when a ``memo`` handler's answer may be kept: until
# when (the caller's token expiry), or None for as long as the database is unchanged.
KEEP_UNTIL = "dataloft.keep_until"

_SECRET_HEADERS = frozenset({b"authorization", b"cookie"})
_KEPT_STATUSES = frozenset({200, 304})

Key = tuple[str, bytes, bytes, tuple[tuple[bytes, bytes], ...], bytes]


@dataclass(frozen=True, slots=True)
class _Kept:
    mark: Hashable
    until: datetime | None
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    route: object  # the route that answered, given again to the scope (the metrics' label)


def memo_key(scope: Scope) -> Key:
    secrets = hashlib.sha256()
    plain = []
    for name, value in scope["headers"]:
        if name in _SECRET_HEADERS:
            # A header value holds no line break (the server refuses one), so the lines
            # cannot run into each other.
            secrets.update(b"%s:%s\n" % (name, value))
        else:
            plain.append((name, value))
    return (
        scope["method"],
        scope.get("raw_path") or scope["path"].encode(),
        scope["query_string"],
        tuple(plain),
        secrets.digest(),
    )


class AnswerMemo:
    MAX_ENTRIES = 1024
    MAX_BODY = 8 * 1024

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock  # the auth service's, which tests move forward
        self._kept: dict[Key, _Kept] = {}

    def __len__(self) -> int:
        return len(self._kept)

    async def answer(self, key: Key, mark: Hashable, scope: Scope, send: Send) -> bool:
        """Send the answer kept for ``key`` if it is still right at ``mark``."""
        kept = self._kept.get(key)
        if kept is None or kept.mark != mark:
            return False
        if kept.until is not None and kept.until <= self.clock():
            del self._kept[key]
            return False
        scope["route"] = kept.route
        # New messages each time: middleware on the way out may change them.
        await send(
            {"type": "http.response.start", "status": kept.status, "headers": list(kept.headers)}
        )
        await send({"type": "http.response.body", "body": kept.body})
        return True

    def recorder(self, key: Key, mark: Hashable, scope: Scope, send: Send) -> Send:
        """``send``, keeping what it sends when the pipeline marked the answer as one to
        keep (``KEEP_UNTIL`` in ``scope``) and it is small and complete."""
        start: tuple[int, tuple[tuple[bytes, bytes], ...]] | None = None

        async def recording(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if KEEP_UNTIL in scope and message["status"] in _KEPT_STATUSES:
                    # Copied before it is sent: middleware on the way out may add to it.
                    headers = tuple((bytes(n), bytes(v)) for n, v in message["headers"])
                    start = message["status"], headers
            elif (
                start is not None
                and not message.get("more_body", False)
                and len(body := message.get("body", b"")) <= self.MAX_BODY
            ):
                kept = _Kept(
                    mark, scope[KEEP_UNTIL], start[0], start[1], bytes(body), scope.get("route")
                )
                put_bounded(self._kept, key, kept, self.MAX_ENTRIES)
            else:
                start = None  # a body in several messages: not kept
            await send(message)

        return recording
