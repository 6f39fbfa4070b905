"""HTML-form bodies (``application/x-www-form-urlencoded``): Pigeon Optics' forms and the
OpenID Connect token endpoint's requests."""

from __future__ import annotations

from urllib.parse import parse_qsl

from dataloft.core.decoding import DecodeLimits
from dataloft.core.errors import TooLarge

FORM = "application/x-www-form-urlencoded"


def is_form(content_type: str | None) -> bool:
    return (content_type or "").lower().startswith(FORM)


def form_fields(raw: bytes, limits: DecodeLimits) -> dict[str, str]:
    """A form's fields, as strings: at most as many as a map may hold members (each field
    is two strings, a name and a value). A field given twice keeps its last value."""
    fields = min(limits.members, limits.elements // 2)
    try:
        pairs = parse_qsl(
            raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=fields
        )
    except ValueError:  # counted before any field is split off
        raise TooLarge(f"an HTML form may hold at most {fields} fields") from None
    return dict(pairs)
