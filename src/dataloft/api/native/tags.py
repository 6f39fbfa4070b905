"""Native API: named tags, a name for one version of a dataset (``core/tags.py``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Header, Path, Query, Response
from pydantic import BaseModel

from dataloft.api.listings import model_listing
from dataloft.api.native.deps import NativeCall, native_router
from dataloft.api.native.openapi import ANONYMOUS, errors
from dataloft.api.native.schemas import Body, Version
from dataloft.core.errors import Invalid
from dataloft.core.tags import MAX_TAG, TAG_PATTERN, TagView

router = native_router(tags=["tags"])

TAGS = "/datasets/{owner}/{name}/tags"
TagName = Annotated[
    str,
    Path(
        description="1-100 ASCII letters, digits, '.', '_', '+' or '-', not all digits",
        json_schema_extra={"pattern": f"^{TAG_PATTERN}$", "maxLength": MAX_TAG},
    ),
]


class TagBody(Body):
    version: Version


class TagPage(BaseModel):
    items: list[TagView]
    next_cursor: str | None


@router.get(TAGS, response_model=TagPage, responses=errors(404), openapi_extra=ANONYMOUS)
def list_tags(
    owner: str,
    name: str,
    call: NativeCall,
    limit: int | None = Query(None, ge=1, le=1000),
    cursor: str | None = None,
) -> Response:
    """The dataset's tags, by name."""
    page = call.loft.tags.list(call.actor, owner, name, limit=limit, cursor=cursor)
    return model_listing(call.request, TagPage(items=page.items, next_cursor=page.next_cursor))


@router.get(TAGS + "/{tag}", response_model=TagView, responses=errors(404), openapi_extra=ANONYMOUS)
def get_tag(owner: str, name: str, tag: TagName, call: NativeCall) -> TagView:
    """The version a tag names."""
    return call.loft.tags.get(call.actor, owner, name, tag)


@router.put(
    TAGS + "/{tag}",
    response_model=TagView,
    responses={201: {"description": "A new tag", "model": TagView}, **errors(404, 412)},
    openapi_extra=ANONYMOUS,
)
def put_tag(
    owner: str,
    name: str,
    tag: TagName,
    body: TagBody,
    call: NativeCall,
    response: Response,
    if_none_match: Annotated[
        str | None,
        Header(
            description="``*``: create only, 412 if the tag exists",
            json_schema_extra={"enum": ["*"]},
        ),
    ] = None,
) -> TagView:
    """Create a tag, or move it to another version (write access)."""
    if if_none_match is not None and if_none_match.strip() != "*":
        raise Invalid("If-None-Match on a tag takes only '*'")
    done = call.loft.tags.put(
        call.actor, owner, name, tag, body.version, create_only=if_none_match is not None
    )
    if done.created:
        response.status_code = 201
        response.headers["Location"] = (
            f"/loft/v1/datasets/{quote(owner, safe='')}/{quote(name, safe='')}/tags/{tag}"
        )
    return done.tag


@router.delete(TAGS + "/{tag}", status_code=204, responses=errors(404), openapi_extra=ANONYMOUS)
def delete_tag(owner: str, name: str, tag: TagName, call: NativeCall) -> Response:
    """Remove a tag (write access); the version it named stays."""
    call.loft.tags.delete(call.actor, owner, name, tag)
    return Response(status_code=204)
