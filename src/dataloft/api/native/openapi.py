"""The native API's OpenAPI document: what FastAPI cannot learn from the handlers.

FastAPI documents a route's parameters, JSON body and successful answer from its
signature. What it cannot see is written here, once:

- **Errors.** Each route names the statuses its own work may answer with ``errors(404,
  409)`` in its decorator. ``complete`` adds the ones every route shares (``_shared``),
  with the error body the dialect renders, and drops FastAPI's 422: bad input is a 400 here.
- **Who may call.** Every route that takes a ``NativeCall`` reads an optional Bearer token
  (``BEARER``, a FastAPI security dependency, so the scheme and each operation's
  requirement are generated); routes that also answer anonymous callers say so with
  ``openapi_extra=ANONYMOUS``.
- **Links** from the operations that create something to those that read it (``link``),
  for clients (and fuzzers) that follow them.
- **The core's rules** on names, paths and text, as patterns and lengths: schemas carry a
  marker that ``complete`` replaces with the rule (``constraints.py``).
- **The pipeline's reads** of files and records (``read_operations``), which FastAPI does
  not serve and so cannot document.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from fastapi.security import HTTPBearer

from dataloft.api.errors import CODES
from dataloft.api.native import PREFIX, constraints
from dataloft.api.native.version_refs import VERSION_REF_SCHEMA
from dataloft.config import Settings

ERROR_REF = "#/components/schemas/Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": sorted({*CODES.values(), "error"})},
                "message": {"type": "string", "description": "For people: what went wrong"},
            },
        }
    },
}

BEARER = HTTPBearer(
    auto_error=False,  # anonymous callers are welcome where the route allows them
    scheme_name="bearer",
    description="An API token (POST /loft/v1/auth/token or /loft/v1/tokens), sent as "
    "'Authorization: Bearer <token>'. The same token works in every dialect.",
)
# A route that also takes callers without a token, and leaves them to the access rule:
# reads of public datasets succeed; a write is a 401 on a public dataset and a 404 on one
# the caller may not see (whose existence it must not learn). The Bearer requirement, or none.
OPTIONAL_BEARER: list[dict[str, list[str]]] = [{BEARER.scheme_name: []}, {}]
# ... as a route's openapi_extra: FastAPI appends it to the Bearer requirement it generates.
ANONYMOUS: dict[str, Any] = {"security": [{}]}

_DESCRIPTIONS = {
    400: "Bad request: a parameter, header or body breaks a rule (the message says which), "
    "or the URL's percent-escapes are not UTF-8",
    401: "The token is unknown, expired or revoked, or this needs one",
    403: "The caller may not do this (a read-only token, too low a level), or another site "
    "made a browser send it",
    404: "No such thing, or none the caller may see",
    409: "Clashes with the current state (a name in use, the last admin, ...)",
    412: "A condition the request set (parent version, If-Match, If-None-Match) does not hold",
    413: "Over a size or count limit; the message gives the limit",
    415: "The body is not of a type the route takes",
    460: "The bytes do not match the request's Upload-Checksum: nothing of them is kept",
    429: "Too many failed logins: retry after Retry-After seconds",
    507: "No room left to store it; nothing was saved",
}
_UNSAFE = {"post", "put", "patch", "delete"}


def _error(status: int) -> dict[str, Any]:
    example = {"error": {"code": CODES[status], "message": _DESCRIPTIONS[status]}}
    return {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}, "example": example}},
    }


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route's own work may give, for its ``responses=``."""
    return {status: _error(status) for status in statuses}


def _shared(method: str, operation: Mapping[str, Any]) -> list[int]:
    """Statuses any route may answer, whatever it does: a URL that does not decode or a
    parameter out of bounds (400); a bad token (401); for changes, a cross-site request
    (403) and a full disk (507); with a body, one over the size limit (413)."""
    shared = [400, 401]
    if method in _UNSAFE:
        shared += [403, 507]
    if "requestBody" in operation:
        shared.append(413)
    return shared


def _no_nul(schema: dict[str, Any]) -> None:
    """A string parameter without a pattern of its own may not hold NUL: every name in a
    URL or header names something stored, and nothing stored holds one (the core refuses
    it, or finds nothing)."""
    kinds = [schema, *schema.get("anyOf", [])]
    strings = any(kind.get("type") == "string" for kind in kinds)
    if strings and "pattern" not in schema and "enum" not in schema:
        schema.update(constraints.LOOKUP)


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to ``operation_id``, its parameters given as runtime expressions
    (``$response.body#/name``, ``$request.path.owner``)."""
    return {"operationId": operation_id, "parameters": parameters}


def complete(schema: dict[str, Any], settings: Settings) -> None:
    """Add to FastAPI's schema what it cannot know (see the module docstring)."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in _shared(method, operation):
                responses.setdefault(str(status), _error(status))
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:  # not those given as JSON ("content")
                    _no_nul(parameter["schema"])
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas.update(constraints.COMPONENTS)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    constraints.resolve(schema, settings)


# --- the pipeline's reads ----------------------------------------------------------------------

# Raw bytes, as a body's media type entry.
BINARY = {"schema": {"type": "string", "format": "binary"}}
RECORD_TYPES = {
    "application/json": {"schema": {"description": "Any JSON value; {type, data} tags"}},
    "application/cbor": BINARY,
}
# A file goes out with the media type it was stored with; a symlink as JSON.
FILE_TYPES = {"*/*": BINARY}


def read_operations(
    handler: Callable[..., Any],
    tag: str,
    key: Mapping[str, Any],
    types: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """GET and HEAD of ``/datasets/{owner}/{name}/<tag>/{<key>}``; ``key`` is the
    parameter naming the entry."""
    doc = inspect.getdoc(handler) or ""
    parameters = [
        _path_parameter("owner", {"type": "string"}),
        _path_parameter("name", {"type": "string"}),
        {"in": "path", "required": True, **key},
        {
            "name": "version",
            "in": "query",
            "required": False,
            "description": "A version number or a tag name; default: the head",
            "schema": dict(VERSION_REF_SCHEMA),
        },
    ]
    responses: dict[str, Any] = {
        "200": {"description": "The content", "content": dict(types)},
        "304": {"description": "Not modified (If-None-Match)"},
        "404": _error(404),
    }
    if tag == "files":
        responses["206"] = {"description": "Part of the content (Range)", "content": dict(types)}
        responses["416"] = {"description": "Range not satisfiable"}
    operation = {
        "tags": [tag],
        "summary": doc.split(".")[0],
        "description": doc,
        "security": OPTIONAL_BEARER,
    }
    singular = tag.removesuffix("s")
    return {
        method: {
            **operation,
            "operationId": f"{method}_{singular}",
            "parameters": parameters,
            "responses": responses,
        }
        for method in ("get", "head")
    }


def _path_parameter(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}
