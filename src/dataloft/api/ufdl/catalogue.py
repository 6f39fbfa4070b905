"""UFDL's fixed and near-fixed lists: licences (``licences`` and ``licenses`` alike),
domains, and worker nodes."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes
from dataloft.api.ufdl.common import (
    answer,
    json_object,
    moment,
    no_content,
    only_keys,
    pk,
    put_and_patch,
    required,
    text,
)
from dataloft.api.ufdl.listing import list_route
from dataloft.core.access import Principal
from dataloft.core.errors import Forbidden, Invalid, Unauthenticated
from dataloft.core.licences import DESCRIPTORS
from dataloft.core.results import DomainRecord, LicenceView, LogRecord, NodeRecord


def _logged_in(actor: Principal) -> None:
    if actor.is_anonymous:
        raise Unauthenticated("Authentication credentials were not provided.")


# --- licences --------------------------------------------------------------------------------

_LICENCE_KEYS = ("name", "url", *DESCRIPTORS)


def render_licence(licence: LicenceView) -> dict[str, Any]:
    return {
        "pk": licence.id,
        "name": licence.name,
        "url": licence.url,
        "permissions": licence.permissions,
        "conditions": licence.conditions,
        "limitations": licence.limitations,
        "domains": licence.domains,
    }


def create_licence(call: Call) -> Response:
    body = json_object(call)
    only_keys(body, ("pk", *_LICENCE_KEYS))
    required(body, "name", "url")
    fields = {key: value for key, value in body.items() if key != "pk"}
    return answer(render_licence(call.loft.licences.create(call.actor, fields)), 201)


def get_licence(call: Call) -> Response:
    _logged_in(call.actor)
    return answer(render_licence(call.loft.accounts.get_licence(pk(call))))


def _update_licence(call: Call, partial: bool) -> Response:
    body = json_object(call)
    only_keys(body, ("pk", *_LICENCE_KEYS))
    if not partial:
        required(body, "name", "url")
    fields = {key: value for key, value in body.items() if key != "pk"}
    return answer(render_licence(call.loft.licences.update(call.actor, pk(call), fields)))


def delete_licence(call: Call) -> Response:
    call.loft.licences.delete(call.actor, pk(call))
    return no_content()


def edit_subdescriptors(call: Call) -> Response:
    """``{"type": permissions | conditions | limitations | domains, "method": add |
    remove, "names": [...]}``."""
    body = json_object(call)
    only_keys(body, ("type", "method", "names"))
    required(body, "type", "method", "names")
    method = text(body, "method", 10)
    if method not in ("add", "remove"):
        raise Invalid(f"method: must be add or remove, not {method!r}")
    names = body["names"]
    if not isinstance(names, list):
        raise Invalid("names: must be a list")
    # UFDL names a descriptor by its name or by its number; ours are names only, so a
    # number stands for the descriptor at that place in the licence's list (1-based).
    kind = text(body, "type", 20)
    current = getattr(call.loft.accounts.get_licence(pk(call)), kind, None)
    resolved = [_descriptor(name, current) for name in names]
    found = call.loft.licences.edit_descriptors(
        call.actor, pk(call), kind, method == "add", resolved
    )
    return answer(render_licence(found))


def _descriptor(name: Any, current: list[str] | None) -> str:
    if isinstance(name, int) and not isinstance(name, bool):
        if current is None or not 1 <= name <= len(current):
            raise Invalid(f"names: no descriptor number {name}")
        return current[name - 1]
    if not isinstance(name, str):
        raise Invalid("names: each must be a string or a number")
    return name


# --- domains ---------------------------------------------------------------------------------


# Where each domain's datasets live, under /v1/.
PREFIXES = {"ic": "classify", "is": "segments", "od": "objdet", "sc": "spectra", "sp": "speech"}


def render_domain(domain: DomainRecord) -> dict[str, Any]:
    return {"pk": domain.id, "name": domain.code, "description": domain.description}


def get_domain(call: Call) -> Response:
    return answer(render_domain(call.loft.directory.domain(call.actor, pk(call))))


# --- the log ---------------------------------------------------------------------------------


def render_log(entry: LogRecord) -> dict[str, Any]:
    return {
        "pk": entry.id,
        "creation_time": moment(entry.created),
        "level": entry.level,
        "is_internal": False,
        "message": entry.message,
    }


def write_log(call: Call) -> Response:
    body = json_object(call)
    only_keys(body, ("level", "message", "pk", "creation_time", "is_internal"))
    required(body, "level", "message")
    found = call.loft.client_log.write(call.actor, body["level"], body["message"])
    return answer(render_log(found), 201)


def get_log(call: Call) -> Response:
    return answer(render_log(call.loft.client_log.get(call.actor, pk(call))))


# --- nodes -----------------------------------------------------------------------------------

_NODE_KEYS = ("ip", "index", "driver_version", "hardware_generation", "gpu_mem", "cpu_mem")


def render_node(node: NodeRecord) -> dict[str, Any]:
    return {
        "pk": node.id,
        "ip": node.ip,
        "index": node.index,
        "driver_version": node.driver_version,
        "hardware_generation": node.hardware_generation,
        "gpu_mem": node.gpu_mem,
        "cpu_mem": node.cpu_mem,
        "last_seen": moment(node.last_seen),
        "current_job": None,  # jobs are not part of dataloft
    }


def register_node(call: Call) -> Response:
    body = json_object(call)
    only_keys(body, ("pk", "last_seen", "current_job", *_NODE_KEYS))
    required(body, "ip")
    fields = {key: body[key] for key in _NODE_KEYS if key in body}
    return answer(render_node(call.loft.nodes.register(call.actor, fields)), 201)


def get_node(call: Call) -> Response:
    """Site admins, and whoever registered the node."""
    _logged_in(call.actor)
    node = call.loft.nodes.get(pk(call))
    if not call.actor.is_admin and node.created_by != call.actor.user_id:
        raise Forbidden("only site admins and the node's owner see a node")
    return answer(render_node(node))


def ping(call: Call) -> Response:
    """A node saying it is alive (its Node-Id header marked it seen): 200, empty."""
    _logged_in(call.actor)
    node_id = call.header("node-id")
    if node_id is None and not call.actor.is_admin:
        raise Forbidden("only nodes (with a Node-Id header) and site admins ping")
    return Response(status_code=200)


_LICENCE_ROUTES: Routes = {
    "/list": {"POST": list_route(lambda c, s: c.loft.licences.listed(c.actor, s), render_licence)},
    "/create": {"POST": create_licence},
    "/{pk:int}": {
        "GET": get_licence,
        **put_and_patch(_update_licence),
        "DELETE": delete_licence,
    },
    "/{pk:int}/subdescriptors": {"PATCH": edit_subdescriptors},
}

ROUTES: Routes = {
    # UFDL's router takes both spellings (licen[cs]es).
    **{
        f"/v1/{word}{path}": handlers
        for word in ("licences", "licenses")
        for path, handlers in _LICENCE_ROUTES.items()
    },
    "/v1/domains/list": {
        "POST": list_route(lambda c, s: c.loft.directory.domains(c.actor, s), render_domain)
    },
    "/v1/domains/{pk:int}": {"GET": get_domain},
    "/v1/log/list": {
        "POST": list_route(lambda c, s: c.loft.client_log.listed(c.actor, s), render_log)
    },
    "/v1/log/create": {"POST": write_log},
    "/v1/log/{pk:int}": {"GET": get_log},
    "/v1/nodes/list": {
        "POST": list_route(lambda c, s: c.loft.nodes.listed(c.actor, s), render_node)
    },
    "/v1/nodes/create": {"POST": register_node},
    "/v1/nodes/ping": {"GET": ping},
    "/v1/nodes/{pk:int}": {"GET": get_node},
}
