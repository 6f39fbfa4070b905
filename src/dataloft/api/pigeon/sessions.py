"""Pigeon Optics sessions: ``POST /auth`` registers and logs in, ``POST /auth/logout`` ends
it.

The session cookie holds a dataloft login token (see ``auth``; cookies are set by
``api/cookies.py``). A failed login answers with a 4xx error in the negotiated codec (the
original re-renders its HTML form with status 200, which tells an API client nothing).
Logging out changes state, so it is a POST, like every write refused when another site makes
a browser send it (``api/csrf.py``); ``GET /auth/logout``, the original's link, shows a page
with the button that posts it (a link another site embeds must not log anyone out)."""

from __future__ import annotations

import html
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from dataloft.api.clients import client_address
from dataloft.api.cookies import SESSION_COOKIE, clear_session, set_session
from dataloft.api.pigeon.auth import RESERVED_AUTHORS
from dataloft.api.pigeon.common import decoded_body
from dataloft.api.pipeline import Call
from dataloft.core.errors import Invalid

MAX_AUTH_BODY = 8 * 1024
SESSION_SECONDS = 30 * 24 * 3600
LOGIN_FORM = (
    "<!doctype html><title>Log in</title>"
    '<form method=post action="/auth"><input name=name placeholder=name> '
    "<input name=password type=password placeholder=password> "
    "<label><input type=checkbox name=register value=1> register</label> "
    "<button>Log in</button></form>"
)
LOGOUT_FORM = (
    "<!doctype html><title>Log out</title>"
    '<form method=post action="{action}"><button>Log out</button></form>'
)


def login_form(call: Call) -> Response:
    return Response(LOGIN_FORM, media_type="text/html")


def login(call: Call) -> Response:
    """``POST /auth`` with ``name``, ``password``, ``register`` (create the account first)
    and ``return`` (where to go next): sets the session cookie, 303 to ``return``."""
    loft = call.loft
    body = decoded_body(call, MAX_AUTH_BODY)
    if not isinstance(body, dict):
        raise Invalid("expected name and password")
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise Invalid("name and password are required")
    if body.get("register") not in (None, "", False, "false", "0"):
        if name.casefold() in RESERVED_AUTHORS:
            raise Invalid(f"{name!r} is a reserved name; choose another")
        loft.accounts.register(name, password)
    made = loft.auth.login(name, password, "pigeon-optics session", client_address(call.request))
    response = RedirectResponse(_local(body.get("return")), status_code=303)
    set_session(response, call.request, call.settings, made.secret, SESSION_SECONDS)
    return response


def _local(target: object) -> str:
    """Where to go after logging in or out: a path on this server, never another site
    (browsers read ``//host`` and ``/\\host`` as other sites)."""
    if isinstance(target, str) and target.startswith("/") and target[1:2] not in ("/", "\\"):
        return target
    return "/"


def logout_form(call: Call) -> Response:
    target = html.escape(quote(_local(call.query("return")), safe="/"), quote=True)
    page = LOGOUT_FORM.format(action=f"/auth/logout?return={target}")
    return Response(page, media_type="text/html")


def logout(call: Call) -> Response:
    session = call.request.cookies.get(SESSION_COOKIE)
    if session:
        call.loft.auth.revoke_secret(session)
    response = RedirectResponse(_local(call.query("return")), status_code=303)
    clear_session(response)
    return response
