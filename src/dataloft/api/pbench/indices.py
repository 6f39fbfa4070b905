"""Pbench's Elasticsearch-only APIs, answered as Pbench Server answers for data it has not
indexed, because dataloft keeps no Elasticsearch (every other API reads the upload's own
index): ``search`` finds nothing, ``mappings`` names no fields, and a dataset's
``namespace`` and ``values`` are a 404 ``Dataset has no '<index>' data``, the words of
``detail``. Each still checks what Pbench checks first: the view's name, the caller's
right to read the dataset, and the body's shape.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.pbench.common import json_body
from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.core.errors import Invalid, NotFound

# Pbench's dataset views and the Elasticsearch index each one reads.
VIEWS = {
    "iterations": "result-data-sample",
    "timeseries": "result-data",
    "summary": "run",
    "contents": "run-toc",
}


def _index(call: Call) -> str:
    view = call.param("dataset_view")
    if view not in VIEWS:
        raise Invalid(
            f"Unrecognized keyword [{view!r}] for parameter dataset_view; "
            f"allowed keywords are {sorted(VIEWS)!r}"
        )
    return VIEWS[view]


def search(call: Call) -> Response:
    body: Any = json_body(call, optional=True)
    if body is not None and not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return JSONResponse({"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}})


def mappings(call: Call) -> Response:
    _index(call)
    return JSONResponse({})


def not_indexed(call: Call) -> Response:
    index = _index(call)
    call.loft.pbench.find(call.actor, call.param("dataset"))
    raise NotFound(f"Dataset has no {index!r} data")


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/datasets/search": {"POST": search},
    "/datasets/mappings/{dataset_view}": {"GET": mappings},
    "/datasets/{dataset}/namespace/{dataset_view}": {"GET": not_indexed},
    "/datasets/{dataset}/values/{dataset_view}": {"POST": not_indexed},
}
