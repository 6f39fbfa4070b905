"""No cross-site writes: the pipeline's check before any request that may change state.

A browser attaches a site's cookies and its cached HTTP Basic credentials to requests that
*other* sites make it send: a form on evil.example posting to ``/datasets/alice:x/?_method=
DELETE`` would delete alice's dataset with her credentials. Such requests are recognised
and refused here, before any handler runs:

- Browsers that send Fetch Metadata say where a request comes from (``Sec-Fetch-Site``) and
  how (``Sec-Fetch-Mode``). A state-changing request from another site is refused unless
  it is a CORS request (``Sec-Fetch-Mode: cors``): a script on another site that sends
  credentials explicitly in CORS mode keeps working, as Pigeon Optics promises, while a
  form post (``navigate``) or a ``no-cors`` fetch, the two a page can make without asking,
  never changes anything. ``same-site`` counts as another site: a sibling subdomain may be
  someone else's.
- Older browsers send no Fetch Metadata but do send ``Origin`` with cross-site posts. A
  state-changing request whose ``Origin`` is not this server's is refused when it is what
  a form can send without a CORS preflight (an ``application/x-www-form-urlencoded``,
  ``multipart/form-data`` or ``text/plain`` body, or none) or uses the ``_method``
  override.
- Either way, a request carrying a valid CSRF token passes: the ``X-CSRF-Token`` header
  equal to ``csrf_token`` of its session cookie (web pages of this server read it from the
  ``dataloft_csrf`` cookie, ``api/cookies.py``, which only this origin's scripts see).

Clients that are not browsers send neither header and are not affected.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from dataloft.api.cookies import SESSION_COOKIE, csrf_token
from dataloft.core.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
_TRUSTED_SITES = frozenset({"same-origin", "none"})  # "none": typed in, bookmarked
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
REFUSED = "cross-site request refused: this request may change state and comes from another site"


def check_same_site(request: Request, method: str) -> None:
    """Refuse a request that may change state (``method``, as the dialect reads it) and
    that another site made the browser send (see the module docstring)."""
    if method in SAFE_METHODS:
        return
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site in _TRUSTED_SITES or headers.get("sec-fetch-mode") == "cors":
            return
    else:
        origin = headers.get("origin")
        if origin is None or _same_origin(request, origin) or not _form_like(request):
            return
    if has_valid_token(request):
        return
    raise Forbidden(REFUSED)


def _same_origin(request: Request, origin: str) -> bool:
    """Whether ``Origin`` names this server (as the client reached it: its ``Host``)."""
    if origin == "null":  # sandboxed frames and some redirects: never this server
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


def _form_like(request: Request) -> bool:
    """What a page can send cross-site without a CORS preflight, or a method override."""
    if "_method" in request.query_params:
        return True
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _FORM_TYPES or not content_type


def has_valid_token(request: Request) -> bool:
    """Whether ``X-CSRF-Token`` is the token of the request's session cookie."""
    token = request.headers.get(CSRF_HEADER)
    session = request.cookies.get(SESSION_COOKIE)
    if not token or not session:
        return False
    return hmac.compare_digest(token, csrf_token(session))
