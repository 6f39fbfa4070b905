"""``/v1/auth/obtain | refresh | verify``: JSON Web Tokens for a username and password,
in simplejwt's shapes (``{"access", "refresh"}``, ``{"access"}``, ``{}``)."""

from __future__ import annotations

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes, public
from dataloft.api.ufdl.common import answer, json_object, required, text
from dataloft.core.errors import Unauthenticated

NO_ACCOUNT = "No active account found with the given credentials"


def obtain(call: Call) -> Response:
    body = json_object(call)
    required(body, "username", "password")
    username, password = text(body, "username", 150), text(body, "password", 1024)
    address = call.request.client.host if call.request.client else None
    try:
        principal = call.loft.auth.authenticate_password(username, password, address)
    except Unauthenticated:
        raise Unauthenticated(NO_ACCOUNT) from None
    return answer(call.loft.web_tokens.obtain(principal))


def refresh(call: Call) -> Response:
    body = json_object(call)
    required(body, "refresh")
    return answer({"access": call.loft.web_tokens.refresh(text(body, "refresh", 4096))})


def verify(call: Call) -> Response:
    body = json_object(call)
    required(body, "token")
    call.loft.web_tokens.verify(text(body, "token", 4096))
    return answer({})


ROUTES: Routes = {
    "/v1/auth/obtain": {"POST": public(obtain)},
    "/v1/auth/refresh": {"POST": public(refresh)},
    "/v1/auth/verify": {"POST": public(verify)},
}
