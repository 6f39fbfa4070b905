"""Reading the ``q`` weights of ``Accept`` and ``Accept-Encoding`` headers (RFC 9110
§12.4.2): one rule for every header that ranks alternatives."""

from __future__ import annotations


def weighted(header: str | None) -> list[tuple[str, float]]:
    """The header's items, lower-cased, each with its weight, in the order listed."""
    items: list[tuple[str, float]] = []
    for part in (header or "").split(","):
        item, *params = (piece.strip() for piece in part.split(";"))
        items.append((item.lower(), quality(params)))
    return items


def quality(params: list[str]) -> float:
    """The ``q`` parameter (1 when absent); a malformed one is 0, not acceptable."""
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                return 0.0
            # NaN fails this test too; without it a "q=nan" item could never be beaten.
            return weight if 0 <= weight <= 1 else 0.0
    return 1.0
