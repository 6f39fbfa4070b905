"""``/api/v1/datasets``: Pbench's dataset list (with its filters, sorts, pages, key summary
and date range), one dataset's metadata (``GET``/``PUT .../metadata``), its access and
owner (``POST``), its deletion (``DELETE``), and the Elasticsearch-only ``detail`` answered
as Pbench answers for a dataset it has not indexed.

The list is worked out in Python over the datasets the caller may see
(``core/pbench_query.py``, one query for all of them): Pbench's visibility rules first,
then ``owner``, ``access``, ``mine``, ``name``, ``start``/``end`` and the ``filter`` terms,
then the sort, then ``offset``/``limit``. The legacy ``/datasets/list`` (the seed's
spelling) and ``/datasets/daterange`` are the same list.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from dataloft.api.origins import public_origin
from dataloft.api.pbench.common import json_body, metadata_errors
from dataloft.api.pbench.params import Query, within
from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.core.access import Principal
from dataloft.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.pbench_datasets import refuse
from dataloft.core.pbench_metadata import (
    MetadataErrors,
    check_update,
    dataset_label,
    normalise_all,
    place,
    split_keys,
    split_writable,
)
from dataloft.core.pbench_query import (
    MISSING,
    DatasetView,
    date_range,
    key_summary,
    parse_filters,
    parse_sorts,
    sort_views,
)

LIST_KEYS = (
    "mine",
    "name",
    "owner",
    "access",
    "start",
    "end",
    "filter",
    "offset",
    "limit",
    "daterange",
    "keysummary",
    "metadata",
    "sort",
)
LIST_LISTS = ("filter", "metadata", "sort")
# What Pbench answers for the Elasticsearch documents an update or delete touched: none.
NO_DOCUMENTS = {"deleted": 0, "updated": 0, "total": 0, "version_conflicts": 0, "failures": 0}


def _metadata_of(view: DatasetView, keys: list[str]) -> dict[str, Any]:
    values = {}
    for key in keys:
        value = view.metadata_value(key)
        values[key] = None if value is MISSING else value
    return values


def _owner(call: Call, name: str) -> str:
    """A username a caller names: 401 for an anonymous caller, 404 for an unknown one."""
    if call.actor.is_anonymous:
        raise Unauthenticated(f"Requestor is unable to verify username {name!r}")
    try:
        return call.loft.accounts.get_user(call.actor, name).username
    except NotFound:
        raise NotFound(f"Value {name!r} (str) cannot be parsed as a username") from None


def _selected(call: Call, query: Query, actor: Principal) -> list[DatasetView]:
    mine = query.flag("mine")
    owner = query.text("owner")
    if mine is not None and owner is not None:
        raise Invalid("'owner' and 'mine' filters cannot be used together")
    if mine is not None and actor.is_anonymous:
        raise Unauthenticated("'mine' filter requires authentication")
    access = query.access()
    owner_name = _owner(call, owner) if owner is not None else None
    if access == "private" and not actor.is_admin:
        if actor.is_anonymous:
            raise refuse(actor, "READ", owner_name or "others", "private")
        if owner_name is not None and owner_name != actor.username:
            raise refuse(actor, "READ", owner_name, "private")
    name = query.text("name")
    start, end = query.date("start"), query.date("end")
    terms = parse_filters(query.list("filter"), authenticated=not actor.is_anonymous)
    sorts = parse_sorts(query.list("sort"))
    views = []
    for run in call.loft.pbench.visible(actor):
        if owner_name is not None and run.owner != owner_name:
            continue
        if mine is not None and (run.owner == actor.username) != mine:
            continue
        if access is not None and run.access != access:
            continue
        if name is not None and name not in run.name:
            continue
        if not within(run.uploaded, start, end):
            continue
        view = run.view()
        if terms.matches(view):
            views.append(view)
    return sort_views(views, sorts)


def list_datasets(call: Call) -> Response:
    return _list(call, daterange=False)


def list_daterange(call: Call) -> Response:
    return _list(call, daterange=True)


def _list(call: Call, *, daterange: bool) -> Response:
    query = Query(call.request.query_params, LIST_KEYS, LIST_LISTS)
    keys = query.list("metadata")
    split_keys(keys)
    views = _selected(call, query, call.actor)
    summary = query.flag("keysummary")
    if daterange or query.flag("daterange") or summary:
        answer: dict[str, Any] = {}
        if summary:
            answer.update(key_summary(views))
        if daterange or query.flag("daterange"):
            answer.update(date_range(views))
        return JSONResponse(answer)
    offset, limit = query.number("offset") or 0, query.number("limit")
    page = views[offset : offset + limit if limit else None]
    raw = query.raw()
    next_offset = offset + len(page)
    next_url = ""
    if next_offset < len(views):
        raw["offset"] = str(next_offset)
        base = f"{public_origin(call.request)}{call.request.url.path}"
        next_url = base + "?" + urlencode(raw, doseq=True)
    elif limit:
        raw["offset"] = str(len(views))
    results = [
        {"resource_id": v.resource_id, "name": v.name, "metadata": _metadata_of(v, keys)}
        for v in page
    ]
    return JSONResponse(
        {"parameters": raw, "next_url": next_url, "total": len(views), "results": results}
    )


# --- one dataset ---------------------------------------------------------------------------------


def get_metadata(call: Call) -> Response:
    query = Query(call.request.query_params, ("metadata",), ("metadata",))
    keys = query.list("metadata")
    split_keys(keys)
    run = call.loft.pbench.find(call.actor, call.param("dataset"))
    return JSONResponse(_metadata_of(run.view(), keys))


def put_metadata(call: Call) -> Response:
    body = json_body(call, optional=True)
    values = check_update(body.get("metadata") if isinstance(body, dict) else None)
    actor = call.actor
    only_user = all(split_writable(key)[0] == "user" for key in values)
    operation = "READ" if only_user and not actor.is_anonymous else "UPDATE"
    run = call.loft.pbench.find(actor, call.param("dataset"), operation)
    lifetime = int(call.loft.server_settings.get("dataset-lifetime"))
    label = dataset_label(run.owner, run.name)
    try:
        stored = normalise_all(
            values, dataset_name=label, uploaded=run.uploaded, lifetime_days=lifetime
        )
    except MetadataErrors as errors:
        return metadata_errors(errors)
    documents: dict[str, Any] = {"server": run.server, "global": run.global_, "user": run.user}
    changed, name = place(documents, stored, dataset_name=label)
    pbench = call.loft.pbench
    if "user" in changed:
        pbench.set_user_document(actor, run, documents["user"])
    shared: dict[str, Any] = {ns: documents[ns] for ns in ("server", "global") if ns in changed}
    if shared or name is not None:
        pbench.set_documents(actor, run, name=name, namespaces=shared)
    return JSONResponse({"metadata": stored, "errors": {}})


def get_dataset(call: Call) -> Response:
    """The Elasticsearch indices that hold the dataset's documents: none here."""
    call.loft.pbench.find(call.actor, call.param("dataset"))
    return JSONResponse({})


def detail(call: Call) -> Response:
    call.loft.pbench.find(call.actor, call.param("dataset"))
    raise NotFound("Dataset has no 'run-data' data")


def update_dataset(call: Call) -> Response:
    query = Query(call.request.query_params, ("access", "owner"), ())
    access, owner = query.access(), query.text("owner")
    if access is None and owner is None:
        raise Invalid("Missing required parameters: access,owner")
    run = call.loft.pbench.find(call.actor, call.param("dataset"), "UPDATE")
    if owner is not None:
        if not call.actor.is_admin:
            raise Forbidden("ADMIN role is required to change dataset ownership")
        owner = _owner(call, owner)
    call.loft.pbench.change(call.actor, run, access=access, owner=owner)
    return JSONResponse(NO_DOCUMENTS)


def delete_dataset(call: Call) -> Response:
    run = call.loft.pbench.find(call.actor, call.param("dataset"), "DELETE")
    call.loft.pbench.delete(call.actor, run)
    return JSONResponse(NO_DOCUMENTS)


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/datasets": {"GET": list_datasets},
    "/datasets/": {"GET": list_datasets},
    "/datasets/list": {"GET": list_datasets},
    "/datasets/daterange": {"GET": list_daterange},
    "/datasets/{dataset}": {"GET": get_dataset, "POST": update_dataset, "DELETE": delete_dataset},
    "/datasets/{dataset}/metadata": {"GET": get_metadata, "PUT": put_metadata},
    "/datasets/{dataset}/detail": {"GET": detail},
}
