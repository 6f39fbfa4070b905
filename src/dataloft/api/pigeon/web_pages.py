"""Browsers at Pigeon Optics' pages of data are sent to the web UI's page of the same thing.

Pigeon Optics answers a browser (an ``Accept`` that prefers HTML, ``*/*``, or none:
``codecs.negotiate``) with HTML. Where the web UI has a page for what was asked, that page
is the better answer, so a browser's GET is sent there instead:

=====================================  ==================================
``/datasets/``                         ``/ui/``
``/datasets/AUTHOR:``                  ``/ui/AUTHOR``
``/authors/AUTHOR/``                   ``/ui/AUTHOR``
``/datasets/AUTHOR:NAME/``             ``/ui/AUTHOR/NAME``
``/datasets/AUTHOR:NAME/records/``     ``/ui/AUTHOR/NAME/-/records``
``/datasets/AUTHOR:NAME/records/ID``   ``/ui/AUTHOR/NAME/-/record/ID``
=====================================  ==================================

A Pigeon Optics ``AUTHOR:NAME`` is the core dataset ``AUTHOR/NAME``, whose page the web UI
addresses itself (``web/render.py``, each part percent-encoded). Everything else keeps its
answer: API clients (who name the type they want), the login form, the create forms, the
configuration and export pages, the list of authors and the lenses (the web UI has a page
for none of these yet), and every page when the web UI is not among
``settings.dialects``.

The choices, and why:

- **303 See Other**, not 302: the page is not this resource moved, for a while or for
  good (an API client asking for the same URL still gets the data here); it is another
  resource about it, to be fetched with GET. Sent with ``Vary: Accept``, since the same URL
  answers API clients with data.
- **Only once the thing is found**, with the caller's own rights: a dataset, author or
  record that does not exist, is private to others, or is a lens on a dataset's path gets
  the 404 it got before, not a redirect that would say nothing of it.
- **HEAD** is answered as GET is: the same 303 and ``Location``, without a body.
- **The query is dropped.** None of these pages reads one (the format is chosen by
  ``Accept``, and they have no paging: the exports, which take ``?at=``, stay as they
  are), so a query changes nothing they return; the web UI's own parameters
  (``?version=``, ``?after=``, ``?q=``) mean things a Pigeon Optics URL never meant.
- A record whose id is ``.`` or ``..`` keeps its HTML page: as a path segment, a browser
  would resolve it away (``%2E`` too) and land on another page.
- A form posting with ``?_method=GET`` is not a browser following a link: it keeps its
  HTML page too.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from dataloft import web
from dataloft.api.pigeon.codecs import negotiate
from dataloft.api.pigeon.common import SOURCE, source_of
from dataloft.api.pipeline import Call
from dataloft.web.render import dataset_url, owner_url, segment

HOME = "/ui/"
# Record ids no URL path can carry to a page: browsers resolve them as "this" and "up".
_DOT_SEGMENTS = (".", "..")


def for_browser(call: Call) -> bool:
    """Whether this request is a browser's GET (or HEAD) of a page to send to the web UI
    (a lens's are not: the records handlers serve ``/lenses/`` paths too)."""
    return (
        call.request.method in ("GET", "HEAD")
        and web.DIALECT.name in call.settings.dialects
        and source_of(call) == SOURCE
        and negotiate(call.header("accept")) is None
    )


def see(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers={"Vary": "Accept"})


def author_page(author: str) -> Response:
    return see(owner_url(author))


def dataset_page(author: str, name: str, *view: str) -> Response:
    return see(dataset_url(author, name, *view))


def record_page(call: Call, author: str, name: str, record_id: str) -> Response | None:
    """The record's page for a browser, or None (not a browser's request, or an id no
    page's URL can hold)."""
    if record_id in _DOT_SEGMENTS or not for_browser(call):
        return None
    return dataset_page(author, name, "record", segment(record_id))
