"""Operations on tags: names for versions of a dataset (``v1.0`` -> 7). Wherever a method
takes a version, a tag's name does too."""

from __future__ import annotations

from dataloft_client._commands import Listing, Op, Request
from dataloft_client._exceptions import PreconditionFailed
from dataloft_client._http import Context, call, dataset_url, json_request, segment, send
from dataloft_client._paging import pages
from dataloft_client.models import Tag


def _tag(repo: str, tag: str) -> str:
    return f"{dataset_url(repo)}/tags/{segment(tag)}"


def list_tags(ctx: Context, repo: str) -> Listing[Tag]:
    """The dataset's tags, by name."""
    return pages(ctx, Tag.from_json, dataset_url(repo) + "/tags")


def get_tag(ctx: Context, repo: str, tag: str) -> Op[Tag]:
    return Tag.from_json((yield from call(ctx, Request("GET", _tag(repo, tag)))))


def create_tag(
    ctx: Context, repo: str, tag: str, version: int, *, exist_ok: bool = False
) -> Op[Tag]:
    """A new tag for ``version``. A tag of that name raises ``PreconditionFailed``, or with
    ``exist_ok`` is returned as it is (wherever it points: see ``move_tag``)."""
    headers = {"If-None-Match": "*"}
    request = json_request("PUT", _tag(repo, tag), {"version": version}, headers=headers)
    try:
        return Tag.from_json((yield from call(ctx, request)))
    except PreconditionFailed:
        if not exist_ok:
            raise
    return (yield from get_tag(ctx, repo, tag))


def move_tag(ctx: Context, repo: str, tag: str, version: int) -> Op[Tag]:
    """Point ``tag`` at ``version``, creating it if there is none."""
    request = json_request("PUT", _tag(repo, tag), {"version": version})
    return Tag.from_json((yield from call(ctx, request)))


def delete_tag(ctx: Context, repo: str, tag: str) -> Op[None]:
    yield from send(ctx, Request("DELETE", _tag(repo, tag)))
