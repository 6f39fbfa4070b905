"""``/api/v1/key``: Pbench's API keys, which are dataloft API tokens, so that a key made
here works in every dialect and a token made elsewhere is listed here.

A key is shown whole once, when it is made: dataloft keeps only its hash (Pbench Server
kept the keys themselves). Listings give its visible prefix instead, followed by ``…``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.core.errors import Invalid, NotFound, Unauthenticated
from dataloft.core.pagination import ascii_natural
from dataloft.core.results import TokenView

NOT_LOGGED_IN = "User provided access_token is invalid or expired"
NOT_FOUND = "Requested key not found"


def _view(token: TokenView, key: str) -> dict[str, Any]:
    return {
        "id": token.id,
        "label": token.name or None,
        "key": key,
        "username": token.username,
        "created": token.created.isoformat(),
    }


def _logged_in(call: Call) -> None:
    if call.actor.is_anonymous:
        raise Unauthenticated(NOT_LOGGED_IN)


def create(call: Call) -> Response:
    _logged_in(call)
    if call.request.path_params.get("key"):
        raise Invalid("Key cannot be specified by the user")
    made = call.loft.auth.create_token(call.actor, name=call.query("label") or "")
    return JSONResponse(_view(made.token, made.secret), status_code=201)


def _listed(call: Call) -> list[TokenView]:
    _logged_in(call)
    return call.loft.auth.list_tokens(call.actor)


def list_keys(call: Call) -> Response:
    return JSONResponse([_view(token, token.prefix + "…") for token in _listed(call)])


def _key_id(call: Call) -> int:
    number = ascii_natural(call.param("key"))
    if number is None:
        raise NotFound(NOT_FOUND)
    return number


def get_key(call: Call) -> Response:
    number = _key_id(call)
    for token in _listed(call):
        if token.id == number:
            return JSONResponse(_view(token, token.prefix + "…"))
    raise NotFound(NOT_FOUND)


def delete_key(call: Call) -> Response:
    _logged_in(call)
    try:
        call.loft.auth.revoke_token(call.actor, _key_id(call))
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    return JSONResponse("deleted")


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/key": {"GET": list_keys, "POST": create},
    "/key/": {"GET": list_keys, "POST": create},
    "/key/{key}": {"GET": get_key, "POST": create, "DELETE": delete_key},
}
