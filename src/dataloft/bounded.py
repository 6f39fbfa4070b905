"""``put_bounded``: a dict used as a cache of at most so many entries, oldest out first."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def put_bounded(entries: dict[K, V], key: K, value: V, limit: int) -> None:
    """``entries[key] = value``, first dropping the oldest tenth of the entries when there
    are ``limit`` of them already (dicts keep insertion order: the first are the oldest;
    a tenth at a time, so that a full cache does not pay for a scan on every put)."""
    if len(entries) >= limit:
        for stale in list(entries)[: max(1, limit // 10)]:
            entries.pop(stale, None)
    entries[key] = value
