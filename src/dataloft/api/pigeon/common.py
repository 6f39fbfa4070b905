"""What every Pigeon Optics route needs: the dialect's paths and names, answers in the
negotiated codec, the form-method override, and its 401/403 rules for writers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dataloft.api.forms import form_fields
from dataloft.api.forms import is_form as is_form_type
from dataloft.api.listings import listing
from dataloft.api.pigeon.codecs import (
    HTML_TYPE,
    JSON,
    codec_for_body,
    decode_value,
    encode_plain,
    encode_value,
    html_page,
    negotiate,
)
from dataloft.api.pipeline import Call
from dataloft.core.access import Action, Principal
from dataloft.core.data_paths import DataPath
from dataloft.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.loft import Loft

PAGE = 1000
SOURCE = "datasets"  # the default collection source; lenses are the other
EDIT_REFUSED = "You need to login as someone with permission to edit this"
# Characters a Pigeon Optics dataset name may not hold (they mean something in its paths).
_NAME_FORBIDDEN = set("!*'();:@&=+$,/?%#[]")


def method_of(request: Request) -> str:
    """HTML forms can only POST: ``?_method=PUT`` (or DELETE) says what they mean."""
    override = request.query_params.get("_method")
    if request.method == "POST" and override:
        return override.upper()
    return request.method


def answer(call: Call, value: Any, title: str, headers: dict[str, str] | None = None) -> Response:
    """``value`` in the codec the client asked for, or as a page for browsers."""
    codec = negotiate(call.header("accept"))
    if codec is None:
        return Response(html_page(title, value), media_type="text/html", headers=headers)
    return Response(encode_value(value, codec), media_type=codec.media_type, headers=headers)


def answer_listing(
    call: Call, value: dict[str, Any] | list[Any], title: str, headers: dict[str, str] | None = None
) -> Response:
    """A listing (plain JSON data: names, numbers, and maps and lists of them), as
    ``answer`` gives it, and gzipped for clients that accept it (``api/listings.py``).
    It says it varies with ``Accept`` too, as the record index does."""
    codec = negotiate(call.header("accept"))
    varying = {**(headers or {}), "Vary": "Accept"}
    if codec is None:
        page = html_page(title, value)
        return listing(call.request, page, media_type=HTML_TYPE, headers=varying)
    body = encode_plain(value, codec)
    return listing(call.request, body, media_type=codec.media_type, headers=varying)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def split_spec(call: Call) -> tuple[str, str]:
    """``alice:signs`` -> ``("alice", "signs")``; the name may be empty (``alice:``)."""
    author, colon, name = call.param("spec").partition(":")
    if not colon or not author:
        raise NotFound("Path not Found, web address maybe incorrect")
    return author, name


def check_name(name: str) -> str:
    if not 1 <= len(name) <= 250 or name in (".", "..") or _NAME_FORBIDDEN & set(name):
        raise Invalid(
            "dataset names are 1-250 characters, not '.' or '..', without any of "
            + " ".join(sorted(_NAME_FORBIDDEN))
        )
    return name


def source_of(call: Call) -> str:
    """``datasets`` or ``lenses``: which kind of collection the request's path names."""
    return "lenses" if call.request.url.path.startswith("/lenses/") else SOURCE


def collection_path(author: str, name: str, source: str = SOURCE) -> str:
    """The canonical data path of a collection: ``/datasets/alice:signs`` (no slash)."""
    return str(DataPath(source, author, name))


def record_path(author: str, name: str, record_id: str, source: str = SOURCE) -> str:
    return str(DataPath(source, author, name, record_id))


def dataset_url(author: str, name: str, source: str = SOURCE) -> str:
    return collection_path(author, name, source) + "/"


def owner_action(action: Callable[..., Any], actor: Principal, author: str, name: str) -> Any:
    """Dataset-level writes: anonymous callers get 401, other authors 403."""
    if actor.is_anonymous:
        raise Unauthenticated(EDIT_REFUSED)
    try:
        return action(actor, author, name)
    except Forbidden:
        raise Forbidden(EDIT_REFUSED) from None


@contextlib.contextmanager
def as_record_writer(actor: Principal) -> Iterator[None]:
    """Record writes answer 401 to anyone who may not write, as the original does."""
    if actor.is_anonymous:
        raise Unauthenticated(EDIT_REFUSED)
    try:
        yield
    except Forbidden as error:
        raise Unauthenticated(error.message) from None


def require_record_writer(loft: Loft, actor: Principal, author: str, name: str) -> None:
    with as_record_writer(actor):
        loft.datasets.get(actor, author, name, Action.WRITE)


def is_form(call: Call) -> bool:
    return is_form_type(call.header("content-type"))


def decoded_body(call: Call, limit: int) -> Any:
    """A small body in any codec, or an HTML form's fields as strings."""
    raw = call.read_body(limit)
    limits = call.settings.decode_limits
    if is_form(call):
        return form_fields(raw, limits)
    content_type = call.header("content-type")
    return decode_value(raw, codec_for_body(content_type) if content_type else JSON, limits)
