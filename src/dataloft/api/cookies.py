"""The cookies the server sets for browsers: the login session (Pigeon Optics' ``POST
/auth``, and the web UI's) and its CSRF token, set and cleared in one way.

The session cookie is ``HttpOnly`` (no script reads it) and ``SameSite=Lax`` (not sent with
other sites' subrequests and posts); it is ``Secure`` when the client reached the server
over HTTPS, which behind a TLS-terminating proxy means ``X-Forwarded-Proto: https``
(``settings.secure_cookies``: ``auto``, ``always`` or ``never``). The CSRF cookie holds the
token that vouches for the session (``api/csrf.py``); pages of this origin read it and
send it back in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

from dataloft.config import Settings

SESSION_COOKIE = "dataloft_session"
CSRF_COOKIE = "dataloft_csrf"


def csrf_token(session_secret: str) -> str:
    """The token that vouches for requests made with this session: derived from the
    session's secret, so only a page that can read this origin's cookies can know it."""
    return hashlib.sha256(b"dataloft-csrf\0" + session_secret.encode()).hexdigest()


def secure(request: Request, settings: Settings) -> bool:
    """Whether cookies set in answer to ``request`` must be ``Secure`` (see above)."""
    if settings.secure_cookies != "auto":
        return settings.secure_cookies == "always"
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session(
    response: Response, request: Request, settings: Settings, secret: str, max_age: int
) -> None:
    over_https = secure(request, settings)
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="lax", secure=over_https, max_age=max_age
    )
    response.set_cookie(
        CSRF_COOKIE, csrf_token(secret), samesite="strict", secure=over_https, max_age=max_age
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
