"""``?version=`` (and diff's ``from``/``to``, and ``/versions/{number}``) as the native API
reads them: a version number or a tag name (``core/tags.py``), checked by the core's one
parser and documented with its pattern."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from dataloft.core.tags import VERSION_REF_PATTERN, VersionRef, parse_version_ref

VERSION_REF_SCHEMA: dict[str, Any] = {"type": "string", "pattern": VERSION_REF_PATTERN}
VERSION_DOC = "A version number or a tag name"

VersionQuery = Annotated[
    str | None,
    Query(description=f"{VERSION_DOC}; default: the head", json_schema_extra=VERSION_REF_SCHEMA),
]


def version_ref(raw: str | None, field: str = "version") -> VersionRef | None:
    return None if raw is None else parse_version_ref(raw, field)
