"""Your API tokens: made with a name and an expiry, shown once, revoked with a button.

A token's secret is on the page that made it and nowhere else, ever (the server keeps a
hash of it). The list shows each token's first characters to tell them apart; your web
sessions are tokens too, so signing out elsewhere is revoking one here.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.errors import Invalid
from dataloft.core.pagination import ascii_natural
from dataloft.web.render import page
from dataloft.web.session import form, sign_in_first

TOKENS_PATH = "/ui/-/tokens"
EXPIRIES = {"7": "a week", "30": "30 days", "90": "90 days", "365": "a year", "": "never"}


def tokens(call: Call, made: object = None, status: int = 200) -> Response:
    away = sign_in_first(call, TOKENS_PATH)
    if away is not None:
        return away
    listed = call.loft.auth.list_tokens(call.actor)
    context = {"tokens": listed, "made": made, "expiries": EXPIRIES}
    return page(call, "tokens.html", context, status)


def create(call: Call) -> Response:
    away = sign_in_first(call, TOKENS_PATH)
    if away is not None:
        return away
    fields = form(call)
    days = fields.get("expires", "")
    if days not in EXPIRIES:
        raise Invalid(f"choose an expiry among {', '.join(EXPIRIES.values())}")
    expires = call.loft.auth.clock() + timedelta(days=int(days)) if days else None
    scope = "read" if fields.get("scope") == "read" else None
    made = call.loft.auth.create_token(
        call.actor, name=fields.get("name", "").strip(), expires_at=expires, scope=scope
    )
    return tokens(call, made, 201)


def revoke(call: Call) -> Response:
    away = sign_in_first(call, TOKENS_PATH)
    if away is not None:
        return away
    form(call)
    token_id = ascii_natural(call.param("token"))
    if token_id is None:
        raise Invalid("no such token")
    call.loft.auth.revoke_token(call.actor, token_id)
    return RedirectResponse(TOKENS_PATH, status_code=303)


ROUTES: Routes = {
    TOKENS_PATH: {"GET": tokens, "POST": create},
    "/ui/-/tokens/{token}/revoke": {"POST": revoke},
}
