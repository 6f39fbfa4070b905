"""Encoded response bodies kept in memory, bounded by their total size in bytes.

A listing at a dataset version never changes, so its encoded bytes (and their gzip form)
can be served again without a query for every entry, an encoder pass or a compressor
pass: ``bench/pigeon_index.py`` measured a 10,000-record Pigeon Optics index (1.1 MB of
JSON) at about 23 ms to build and 2.05 ms from here (a bare Starlette endpoint sending
the same bytes: 1.8 ms). Only what is immutable may be cached: callers
key bodies by everything that changes the bytes (dataset id, version, representation).
The access check is not cached; it runs before the cache is asked.

One cache per process: a second process builds its own copy, which is correct because
the keyed bodies are immutable (nothing needs invalidating across processes).
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Hashable

from dataloft.api.qvalues import weighted

# Level 6 is zlib's default: on a 1.2 MB JSON index it takes ~25 ms once (then the result
# is cached) and shrinks it about eightfold; higher levels cost more for little gain.
GZIP_LEVEL = 6


class BodyCache:
    """A least-recently-used map of keys to bytes whose values total at most ``capacity``
    bytes. Handlers run in the threadpool, so every operation holds one lock."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The bytes held now (never more than ``capacity``)."""
        return self._size

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        """Keep ``body``, dropping the least recently used bodies to make room; a body
        larger than the whole cache is not kept (it would evict everything for nothing)."""
        if len(body) > self.capacity:
            return
        with self._lock:
            old = self._bodies.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._bodies[key] = body
            self._size += len(body)
            while self._size > self.capacity:
                _, dropped = self._bodies.popitem(last=False)
                self._size -= len(dropped)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` admits gzip with a q-value above zero: gzip's own entry
    decides when present (``gzip;q=0`` refuses it), otherwise a ``*`` entry."""
    weights = {
        "gzip" if coding == "x-gzip" else coding: q for coding, q in weighted(accept_encoding)
    }
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def gzipped(body: bytes) -> bytes:
    # mtime=0: the same body always compresses to the same bytes, as a strong ETag needs.
    return gzip.compress(body, GZIP_LEVEL, mtime=0)
