"""The core's rules on names, paths and text (``core/names.py``), as JSON Schema, so that
the OpenAPI document states what the server enforces and nothing else.

The core stays the one place that checks: these schemas only describe, and each is built
from the rule's own parts (its limits, its character categories, its reserved names), so
the two cannot drift apart unnoticed; ``tests/unit/api/test_constraints.py`` holds each
schema against its validator on generated input.

Schemas name a rule with a marker (``rule("dataset_name")``) and ``resolve`` swaps the
marker for the rule when the document is built, because some rules depend on settings
(``max_name_length``, ``max_path_length``) and because building the character classes
scans the Unicode database, which is work only the first request for ``/openapi.json``
should pay for.

Patterns are ECMA-262 as OpenAPI asks, written with the subset Python's ``re`` reads
alike (``\\uXXXX``, ``\\UXXXXXXXX``, classes, groups; no lookarounds, which generators
cannot draw from); a JSON Schema pattern is a search, so each is anchored. Two rules
cannot be said exactly: lengths the core counts in UTF-8 bytes (paths, segments) are given
as the same number of characters, exact for ASCII, and unpaired surrogates (refused
everywhere) are only mentioned, since no valid UTF-8 request can carry them except as JSON
escapes.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from dataloft.config import Settings
from dataloft.core.names import (
    DIGEST_PATTERN,
    MEDIA_TYPE_MAX,
    MEDIA_TYPE_PATTERN,
    RECORD_ID_MAX,
    RESERVED_NAMES,
    SEGMENT_MAX_BYTES,
    UNPRINTABLE_CATEGORIES,
    USERNAME_MAX,
    USERNAME_PATTERN,
)
from dataloft.core.passwords import MAX_PASSWORD_LENGTH
from dataloft.core.symlinks import TARGET_MAX_BYTES

RULE = "x-dataloft-rule"
NO_NUL = r"^[^\x00]*$"
_BACKSLASH = r"\\"  # a literal backslash, in a pattern
# A name the server looks up (an owner, a licence, a user to log in as): nothing stored
# holds a NUL, so one finds nothing (404, or 400 where PostgreSQL refuses to compare it).
LOOKUP: dict[str, Any] = {"pattern": NO_NUL}


def rule(name: str) -> dict[str, Any]:
    """The marker for rule ``name`` (a key of ``RULES``), for ``json_schema_extra`` of a
    string field."""
    if name not in RULES:
        raise KeyError(f"no rule {name!r}")
    return {RULE: name}


def _char(code: int) -> str:
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _ranges(wanted: Callable[[str], bool]) -> Iterator[tuple[int, int]]:
    start: int | None = None
    for code in range(sys.maxunicode + 1):
        # Surrogates are no characters: they cannot reach a pattern's subject, and a class
        # naming them is an error for regex engines that work on scalar values.
        hit = not 0xD800 <= code <= 0xDFFF and wanted(chr(code))
        if hit and start is None:
            start = code
        elif not hit and start is not None:
            yield start, code - 1
            start = None
    if start is not None:
        yield start, sys.maxunicode


def _class(wanted: Callable[[str], bool]) -> str:
    """The inside of a character class holding the characters ``wanted`` accepts."""
    return "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in _ranges(wanted))


@cache
def _unprintable() -> str:
    return _class(lambda ch: unicodedata.category(ch) in UNPRINTABLE_CATEGORIES)


@cache
def _space() -> str:
    return _class(str.isspace)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def text(limit: int) -> dict[str, Any]:
    """Free text of at most ``limit`` characters (``check_text``): no NUL."""
    return {"maxLength": limit, "pattern": NO_NUL}


def _account_name(_: Settings) -> dict[str, Any]:
    return {
        "minLength": 1,
        "maxLength": USERNAME_MAX,
        "pattern": f"^{USERNAME_PATTERN}$",
    }


def _new_owner_name(settings: Settings) -> dict[str, Any]:
    reserved = "|".join(_any_case(name) for name in sorted(RESERVED_NAMES))
    return {
        **_account_name(settings),
        "not": {"pattern": f"^(?:{reserved})$"},
        "description": "Not a reserved name (admin, root, support, ...), in any case",
    }


def _dataset_name(settings: Settings) -> dict[str, Any]:
    # Printable, no '/' or '\', no space at either end, not '.' or '..'. Spelled without
    # lookarounds, which generators (Hypothesis' from_regex) cannot draw from: one
    # character that is not '.'; two that are not '..'; or three and more.
    inner = f"[^/{_BACKSLASH}{_unprintable()}]"
    edge = f"[^/{_BACKSLASH}{_unprintable()}{_space()}]"
    undotted = f"[^./{_BACKSLASH}{_unprintable()}{_space()}]"
    return {
        "minLength": 1,
        "maxLength": settings.max_name_length,
        "pattern": f"^(?:{undotted}{edge}?|\\.{undotted}|{edge}{inner}+{edge})$",
    }


def _path(settings: Settings) -> dict[str, Any]:
    # Relative; '/'-separated segments, none empty, '.' or '..'; no '\' or control
    # characters. A segment, without lookarounds: it starts with a character that is not a
    # dot, or with one dot and then one that is not, or with two dots and then anything.
    char = f"[^/{_BACKSLASH}{_unprintable()}]"
    undotted = f"[^./{_BACKSLASH}{_unprintable()}]"
    most = SEGMENT_MAX_BYTES
    segment = (
        f"(?:{undotted}{char}{{0,{most - 1}}}|\\.{undotted}{char}{{0,{most - 2}}}"
        f"|\\.\\.{char}{{1,{most - 2}}})"
    )
    return {
        "minLength": 1,
        "maxLength": settings.max_path_length,
        "pattern": f"^{segment}(?:/{segment})*$",
        "description": f"At most {settings.max_path_length} bytes of UTF-8, "
        f"{SEGMENT_MAX_BYTES} per segment",
    }


def _record_id(_: Settings) -> dict[str, Any]:
    return {"minLength": 1, **text(RECORD_ID_MAX)}


def _password(settings: Settings) -> dict[str, Any]:
    return {
        "minLength": settings.min_password_length,
        "maxLength": MAX_PASSWORD_LENGTH,
        "pattern": NO_NUL,
    }


def _sha256(_: Settings) -> dict[str, Any]:
    return {"pattern": f"^{DIGEST_PATTERN}$"}


def _media_type(_: Settings) -> dict[str, Any]:
    return {"maxLength": MEDIA_TYPE_MAX, "pattern": f"^{MEDIA_TYPE_PATTERN}$"}


def _symlink_target(_: Settings) -> dict[str, Any]:
    # Where it may point (not out of the dataset) depends on the link's own path, which a
    # pattern of the target alone cannot say: the field's description does. The length is
    # in UTF-8 bytes, as for paths.
    return {
        "minLength": 1,
        "maxLength": TARGET_MAX_BYTES,
        "pattern": f"^[^/{_unprintable()}][^{_unprintable()}]*$",
    }


def _project(_: Settings) -> dict[str, Any]:
    return {"pattern": r"^[^/\x00]+/[^\x00]+$"}


def _file_size(settings: Settings) -> dict[str, Any]:
    return {"maximum": settings.max_file_size}


RULES: dict[str, Callable[[Settings], dict[str, Any]]] = {
    "account_name": _account_name,
    "new_owner_name": _new_owner_name,
    "dataset_name": _dataset_name,
    "path": _path,
    "record_id": _record_id,
    "password": _password,
    "sha256": _sha256,
    "media_type": _media_type,
    "symlink_target": _symlink_target,
    "project": _project,
    "file_size": _file_size,
}

# JSON documents stored as JSON (metadata): any JSON, but no NUL in any key or string,
# which PostgreSQL cannot store (``check_json_document``).
JSON_VALUE = "JsonValue"
_VALUE_REF = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
_NO_NUL_OBJECT: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": NO_NUL},
    "additionalProperties": _VALUE_REF,
}
COMPONENTS: dict[str, dict[str, Any]] = {
    JSON_VALUE: {
        "description": "Any JSON value without NUL characters",
        "anyOf": [
            {"type": ["null", "boolean", "number"]},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": _VALUE_REF},
            _NO_NUL_OBJECT,
        ],
    }
}


def json_object(limit: int) -> dict[str, Any]:
    """A JSON object of at most ``limit`` bytes once encoded, with no NUL anywhere."""
    return {**_NO_NUL_OBJECT, "description": f"A JSON object: at most {limit} bytes, no NUL"}


def resolve(node: Any, settings: Settings) -> None:
    """Replace every rule marker under ``node`` by the rule's schema."""
    if isinstance(node, dict):
        name = node.pop(RULE, None)
        if name is not None:
            # Beside the field's own keywords (its type, or the anyOf of an optional one):
            # pattern and length keywords apply to strings only, so they fit either.
            fragment = RULES[name](settings)
            note = fragment.pop("description", None)
            if note is not None:
                node.setdefault("description", note)
            node.update(fragment)
        for value in node.values():
            resolve(value, settings)
    elif isinstance(node, list):
        for value in node:
            resolve(value, settings)
