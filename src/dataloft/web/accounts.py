"""Signing in and out (``session.py`` holds the rules)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.errors import Invalid, Unauthenticated
from dataloft.web.render import page
from dataloft.web.session import local, remember_sign_in_token, sign_in, sign_in_token, sign_out


def sign_in_form(call: Call, error: str | None = None, status: int = 200) -> Response:
    if error is None and not call.actor.is_anonymous:  # signed in already: go on
        return RedirectResponse(local(call.query("next")), status_code=303)
    token = sign_in_token(call.request)
    context = {"csrf": token, "next": local(call.query("next")), "error": error}
    response = page(call, "signin.html", context, status)
    remember_sign_in_token(call, response, token)
    return response


def sign_in_post(call: Call) -> Response:
    try:
        return sign_in(call)
    except Unauthenticated as error:  # the form again, saying what was wrong
        return sign_in_form(call, error.message, 401)
    except Invalid as error:
        return sign_in_form(call, error.message, 400)


ROUTES: Routes = {
    "/ui/-/signin": {"GET": sign_in_form, "POST": sign_in_post},
    "/ui/-/signout": {"POST": sign_out},
}
