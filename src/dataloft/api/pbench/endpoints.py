"""``GET /api/v1/endpoints``: how a Pbench client finds everything else. Each of the 18 API
names Pbench's client knows gets one URI template (the one with the most parameters where
Pbench Server has several routes for a name), absolute, at the origin the client reached
us at; ``openid`` names the OpenID Connect provider to log in at.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft import __version__
from dataloft.api.origins import public_origin
from dataloft.api.pipeline import Call, Handler, PlainHandler, public

PREFIX = "/api/v1"
# Pbench's API names and their templates; a parameter written {name:path} may hold slashes.
CATALOGUE = {
    "datasets": "/datasets/{dataset}",
    "datasets_compare": "/compare",
    "datasets_contents": "/datasets/{dataset}/contents/{target:path}",
    "datasets_detail": "/datasets/{dataset}/detail",
    "datasets_inventory": "/datasets/{dataset}/inventory/{target:path}",
    "datasets_list": "/datasets",
    "datasets_mappings": "/datasets/mappings/{dataset_view}",
    "datasets_metadata": "/datasets/{dataset}/metadata",
    "datasets_namespace": "/datasets/{dataset}/namespace/{dataset_view}",
    "datasets_search": "/datasets/search",
    "datasets_values": "/datasets/{dataset}/values/{dataset_view}",
    "datasets_visualize": "/datasets/{dataset}/visualize",
    "endpoints": "/endpoints",
    "key": "/key/{key}",
    "relay": "/relay/{uri:path}",
    "server_audit": "/server/audit",
    "server_settings": "/server/settings/{key}",
    "upload": "/upload/{filename}",
}
# Pbench's visualisations: the benchmarks pquisby can render.
BENCHMARKS = ["fio", "uperf"]
_PARAMETER = re.compile(r"{(\w+)(?::(\w+))?}")


def _uri(origin: str, path: str) -> dict[str, Any]:
    params = {name: {"type": kind or "string"} for name, kind in _PARAMETER.findall(path)}
    template = _PARAMETER.sub(lambda match: "{" + match.group(1) + "}", path)
    return {"template": origin + PREFIX + template, "params": params}


def get_endpoints(call: Call) -> Response:
    origin = public_origin(call.request)
    settings = call.settings
    issuer = settings.oidc_issuer
    if issuer is not None:  # an external provider: its server URL and realm
        server, _, realm = issuer.rstrip("/").rpartition("/realms/")
    else:
        server, realm = origin, settings.oidc_realm
    return JSONResponse(
        {
            "identification": f"Pbench server dataloft {__version__}",
            "openid": {"client": settings.oidc_client, "realm": realm, "server": server},
            "uri": {name: _uri(origin, path) for name, path in CATALOGUE.items()},
            "visualization": {"benchmarks": BENCHMARKS},
        }
    )


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/endpoints": {"GET": public(get_endpoints)},
}
