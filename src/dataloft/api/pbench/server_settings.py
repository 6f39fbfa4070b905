"""``/api/v1/server/settings[/{key}]``: anyone reads the server settings
(``core/server_settings.py``); an admin changes them, in one of Pbench's three forms:
``PUT .../settings/{key}?value=v``, ``PUT .../settings/{key}`` with ``{"value": ...}``,
or ``PUT .../settings`` with ``{key: value, ...}``. The answer echoes what was set.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.pbench.common import json_body, require_admin
from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.core.errors import Invalid
from dataloft.core.server_settings import KEYS


def _key(call: Call) -> str | None:
    key = call.request.path_params.get("key") or None
    if key is not None and key not in KEYS:
        raise Invalid(
            f"Unrecognized keyword [{key!r}] for parameter key; "
            f"allowed keywords are {sorted(KEYS)!r}"
        )
    return key


def get_settings(call: Call) -> Response:
    key = _key(call)
    settings = call.loft.server_settings
    return JSONResponse({key: settings.get(key)} if key else settings.all())


def put_settings(call: Call) -> Response:
    require_admin(call, "UPDATE")
    key = _key(call)
    body: Any = json_body(call, optional=True)
    if body is not None and not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    if key is None:
        values = body or {}
    else:
        query = call.query("value")
        if query and body:
            raise Invalid(
                f"Redundant parameters specified in the JSON request body: {sorted(body)!r}"
            )
        value = query if query else (body or {}).get("value")
        if value is None or value == "":
            raise Invalid(f"No value found for server settings key {key!r}")
        values = {key: value}
    return JSONResponse(call.loft.server_settings.change(call.actor, values))


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    path: {"GET": get_settings, "PUT": put_settings}
    for path in ("/server/settings", "/server/settings/", "/server/settings/{key}")
}
