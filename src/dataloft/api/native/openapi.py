"""OpenAPI operations of the native routes served by the pipeline rather than by FastAPI
(the hot reads of files and records): FastAPI documents only its own routes, so these are
written out here and ``create_app`` merges them into ``/openapi.json``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

RECORD_TYPES = {
    "application/json": {"schema": {}},
    "application/cbor": {"schema": {"type": "string", "format": "binary"}},
}
FILE_TYPES = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

_ERROR = {
    "description": "An error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    }
                },
            }
        }
    },
}


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def read_operations(
    handler: Callable[..., Any], tag: str, key: str, types: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """GET and HEAD of ``/datasets/{owner}/{name}/<tag>/{<key>}``."""
    doc = inspect.getdoc(handler) or ""
    parameters = [
        _path_parameter("owner"),
        _path_parameter("name"),
        _path_parameter(key),
        {
            "name": "version",
            "in": "query",
            "required": False,
            "description": "Default: the head",
            "schema": {"type": "integer", "minimum": 0},
        },
    ]
    responses: dict[str, Any] = {
        "200": {"description": "The content", "content": dict(types)},
        "304": {"description": "Not modified (If-None-Match)"},
        "400": _ERROR,
        "401": _ERROR,
        "404": _ERROR,
    }
    if tag == "files":
        responses["206"] = {"description": "Part of the content (Range)"}
        responses["416"] = {"description": "Range not satisfiable"}
    operation = {"tags": [tag], "summary": doc.split(".")[0], "description": doc}
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
