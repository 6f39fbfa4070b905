"""Every account, for site admins: a page of users at a time (by name, keyset-paged with
``list_users``' cursor, ``?after=``), each with buttons that make or unmake an admin and
deactivate or reactivate the account.

Anyone else gets what the core says (``list_users``): signed out, the sign-in form;
signed in, 403 ("only admins list users"). Not a 404: this page's address is the same on
every server and the docs name it, so pretending it does not exist would hide nothing,
while a 403 tells someone who expected to be an admin what is wrong. The core also keeps
the last active admin from being unmade or deactivated (409).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.errors import Invalid
from dataloft.web.render import page
from dataloft.web.session import form, sign_in_first

USERS_PATH = "/ui/-/users"
PAGE_SIZE = 50
# Each button's change, as ``update_user`` takes it.
CHANGES: dict[str, dict[str, Any]] = {
    "make-admin": {"is_admin": True},
    "unmake-admin": {"is_admin": False},
    "deactivate": {"is_active": False},
    "reactivate": {"is_active": True},
}


def _listing_url(after: str | None) -> str:
    return f"{USERS_PATH}?after={quote(after, safe='')}" if after else USERS_PATH


def users(call: Call) -> Response:
    after = call.query("after")
    away = sign_in_first(call, _listing_url(after))
    if away is not None:
        return away
    listing = call.loft.accounts.list_users(call.actor, PAGE_SIZE, after or None)
    return page(call, "users.html", {"listing": listing, "after": after or ""})


def change(call: Call) -> Response:
    """One of a user's buttons; back to the page of users it was on."""
    fields = form(call)
    changes = CHANGES.get(fields.get("action", ""))
    if changes is None:
        raise Invalid(f"choose one of {', '.join(CHANGES)}")
    call.loft.accounts.update_user(call.actor, call.param("username"), changes)
    return RedirectResponse(_listing_url(fields.get("after")), status_code=303)


ROUTES: Routes = {
    USERS_PATH: {"GET": users},
    USERS_PATH + "/{username}": {"POST": change},
}
