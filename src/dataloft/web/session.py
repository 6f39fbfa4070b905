"""Signing in and out of the web UI, and the token every form carries.

A session is a dataloft login token in the ``dataloft_session`` cookie (``HttpOnly``,
``SameSite=Lax``, ``Secure`` over HTTPS: ``api/cookies.py``), the same session Pigeon
Optics' pages use: signing in here signs in there. Revoking it (signing out, or the token
page) ends it at once.

**Forms.** Every form that changes something carries a ``csrf`` field, checked before its
handler acts (``form``), besides the pipeline's refusal of writes other sites make a
browser send (``api/csrf.py``):

- signed in, the token is derived from the session's secret (``api/cookies.csrf_token``),
  which no other site can read;
- the sign-in form, before any session exists, carries a random value that is also set in
  a cookie only this path receives (double submit), so another site cannot sign a browser
  in to an account of its choosing.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dataloft.api.clients import client_address
from dataloft.api.cookies import SESSION_COOKIE, clear_session, csrf_token, secure, set_session
from dataloft.api.forms import form_fields, is_form
from dataloft.api.pipeline import Call
from dataloft.core.access import ANONYMOUS, Principal
from dataloft.core.errors import Forbidden, Invalid, Unauthenticated
from dataloft.core.loft import Loft

SESSION_SECONDS = 14 * 24 * 3600
MAX_FORM_BYTES = 64 * 1024
SIGN_IN_PATH = "/ui/-/signin"
SIGN_IN_CSRF = "dataloft_signin_csrf"
STALE = "this form is stale or was sent from another site: reload the page and try again"


def authenticate(loft: Loft, request: Request) -> Principal:
    """The session's user, or anonymous (no session, or one that expired or was
    revoked: sign in again)."""
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return ANONYMOUS
    try:
        return loft.auth.authenticate_token(session)
    except Unauthenticated:
        return ANONYMOUS


def signed_in(call: Call) -> str | None:
    """Who is signed in (their name), if anyone."""
    return call.actor.username if not call.actor.is_anonymous else None


def sign_in_first(call: Call, back: str) -> Response | None:
    """For a page only the signed-in have: signed out, the way to the sign-in form, which
    leads ``back`` here; signed in, None."""
    if call.actor.is_anonymous:
        return RedirectResponse(f"{SIGN_IN_PATH}?next={quote(back)}", status_code=303)
    return None


def csrf_for(request: Request) -> str:
    """The token this session's forms carry ("" without a session)."""
    session = request.cookies.get(SESSION_COOKIE)
    return csrf_token(session) if session else ""


def form(call: Call, expected: str | None = None) -> dict[str, str]:
    """The fields of the form this request posts, once its ``csrf`` field is checked
    against ``expected`` (the session's token by default)."""
    if not is_form(call.header("content-type")):
        raise Invalid("expected an HTML form (application/x-www-form-urlencoded)")
    fields = form_fields(call.read_body(MAX_FORM_BYTES), call.settings.decode_limits)
    token = csrf_for(call.request) if expected is None else expected
    if not token or not hmac.compare_digest(fields.get("csrf", ""), token):
        raise Forbidden(STALE)
    return fields


def local(target: str | None) -> str:
    """Where to go next: a page of this UI, never another site (browsers read ``//host``
    and ``/\\host`` as other sites)."""
    if target and target.startswith("/ui/") and "\\" not in target and "//" not in target:
        return target
    return "/ui/"


def sign_in_token(request: Request) -> str:
    """The sign-in form's token: the one its cookie holds, or a new one."""
    return request.cookies.get(SIGN_IN_CSRF) or secrets.token_urlsafe(32)


def remember_sign_in_token(call: Call, response: Response, token: str) -> None:
    response.set_cookie(
        SIGN_IN_CSRF,
        token,
        path=SIGN_IN_PATH,
        httponly=True,
        samesite="strict",
        secure=secure(call.request, call.settings),  # as the session's cookie
        max_age=3600,
    )


def sign_in(call: Call) -> Response:
    """Check the posted name and password; the page to go to, with the session set.
    Raises ``Unauthenticated`` (or ``TooManyRequests``) for a wrong one."""
    fields = form(call, expected=call.request.cookies.get(SIGN_IN_CSRF, ""))
    name, password = fields.get("username", ""), fields.get("password", "")
    if not name or not password:
        raise Invalid("enter your name and password")
    made = call.loft.auth.login(name, password, "web session", client_address(call.request))
    response = RedirectResponse(local(fields.get("next")), status_code=303)
    set_session(response, call.request, call.settings, made.secret, SESSION_SECONDS)
    response.delete_cookie(SIGN_IN_CSRF, path=SIGN_IN_PATH)
    return response


def sign_out(call: Call) -> Response:
    form(call)
    session = call.request.cookies.get(SESSION_COOKIE)
    if session:
        call.loft.auth.revoke_secret(session)
    response = RedirectResponse("/ui/", status_code=303)
    clear_session(response)
    return response
