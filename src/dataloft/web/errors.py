"""The web UI's error page: the status the one error table gives a core error
(``api/errors.py``), the message, and a way on. A dataset someone may not read and one
that does not exist give the same page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from dataloft.web.render import ENVIRONMENT, PAGE_HEADERS

TITLES = {
    400: "That did not work",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not here",
    409: "In the way",
    412: "Changed meanwhile",
    413: "Too large",
    429: "Too many tries",
    507: "Out of space",
}


def render_error(request: Request, status: int, message: str) -> Response:
    title = TITLES.get(status, "Something went wrong" if status >= 500 else "That did not work")
    html = ENVIRONMENT.get_template("error.html").render(
        status=status,
        title=title,
        message=message,
        me=None,
        site_admin=False,
        csrf="",
        path=request.url.path,
    )
    return HTMLResponse(html, status, headers=PAGE_HEADERS)
