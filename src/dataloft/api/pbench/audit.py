"""``GET /api/v1/server/audit`` (admins): dataloft's event log, each event as a Pbench
audit record.

Pbench Server wrote a ``BEGIN`` record when an operation started and a second one when it
ended. dataloft's log holds what was committed, so each event is one record with status
``SUCCESS``, and ``root_id`` null. Its ``name``, ``operation`` and ``object_type`` come
from the event's kind (``_KINDS``); ``object_id`` and ``object_name`` name the dataset
(its uid, which is a Pbench dataset's resource id, and its owner/name); ``attributes`` are
the event's payload, with its kind; ``user_id`` and ``user_name`` name who did it.

Every filter of Pbench's is taken: ``dataset`` (a resource id), ``start`` and ``end``
(inclusive), and the record fields ``name``, ``object_id``, ``object_name``,
``object_type``, ``operation``, ``reason``, ``status``, ``user_id``, ``user_name``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.pbench.common import require_admin
from dataloft.api.pbench.params import Query, within
from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.core.results import EventView

# event kind -> (Pbench's audit name, operation, object type)
_KINDS = {
    "dataset.create": ("upload", "CREATE", "DATASET"),
    "dataset.update": ("update", "UPDATE", "DATASET"),
    "dataset.transfer": ("update", "UPDATE", "DATASET"),
    "dataset.delete": ("delete", "DELETE", "DATASET"),
    "dataset.purge": ("delete", "DELETE", "DATASET"),
    "dataset.restore": ("update", "UPDATE", "DATASET"),
    "commit": ("metadata", "UPDATE", "DATASET"),
    "server.settings": ("config", "UPDATE", "CONFIG"),
}
FIELDS = (
    "name",
    "object_id",
    "object_name",
    "object_type",
    "operation",
    "reason",
    "status",
    "user_id",
    "user_name",
)
BATCH = 1000


def _record(event: EventView) -> dict[str, Any]:
    name, operation, object_type = _KINDS.get(event.kind, (event.kind, "UPDATE", "NONE"))
    if object_type == "DATASET" and event.dataset is None:
        object_type = "NONE"
    object_id = object_name = None
    if object_type == "DATASET":
        object_id = str(event.payload.get("uid") or event.dataset)
        object_name = event.dataset
    elif object_type == "CONFIG":
        object_name = "server-settings"
    return {
        "id": event.seq,
        "root_id": None,
        "name": name,
        "operation": operation,
        "object_type": object_type,
        "object_id": object_id,
        "object_name": object_name,
        "user_id": event.actor,
        "user_name": event.actor,
        "status": "SUCCESS",
        "reason": None,
        "attributes": {"event": event.kind, **event.payload},
        "timestamp": event.created.isoformat(),
    }


def _events(call: Call) -> Iterator[EventView]:
    after = 0
    while True:
        batch = call.loft.events.read_after(call.actor, after, limit=BATCH)
        yield from batch.events
        if not batch.more:
            return
        after = batch.scanned_to


def get_audit(call: Call) -> Response:
    require_admin(call, "READ")
    query = Query(call.request.query_params, ("dataset", "start", "end", *FIELDS), ())
    start, end = query.date("start"), query.date("end")
    wanted = {field: query.text(field) for field in FIELDS if query.text(field) is not None}
    dataset = query.text("dataset")
    records = []
    for event in _events(call):
        if not within(event.created, start, end):
            continue
        record = _record(event)
        if dataset is not None and record["object_id"] != dataset:
            continue
        if any(str(record[field]) != value for field, value in wanted.items()):
            continue
        records.append(record)
    return JSONResponse(records)


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/server/audit": {"GET": get_audit},
}
