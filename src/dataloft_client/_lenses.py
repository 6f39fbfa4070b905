"""Operations on lenses (``docs/lenses.md``): derived datasets built by JavaScript
map/reduce code over input datasets. A lens is a dataset: read its records, versions and
events with the dataset methods."""

from __future__ import annotations

from dataloft_client._commands import Op, Request
from dataloft_client._http import Context, call, json_request, segment
from dataloft_client.models import Lens
from dataloft_client.refs import split_repo


def _lens(repo: str) -> str:
    owner, name = split_repo(repo)
    return f"/lenses/{segment(owner)}/{segment(name)}"


def _config(inputs: list[str], code: str, reduce_code: str | None, memo: str) -> dict[str, object]:
    return {"inputs": inputs, "code": code, "reduce_code": reduce_code, "memo": memo}


def create_lens(
    ctx: Context,
    name: str,
    inputs: list[str],
    code: str,
    *,
    reduce_code: str | None = None,
    memo: str = "",
) -> Op[Lens]:
    """A new lens of yours. ``inputs`` are data paths (``/datasets/<owner>:<name>``,
    ``/lenses/<owner>:<name>``, either with ``/records/<id>``); ``code`` is the body of
    ``map(path, data)``; ``reduce_code`` that of ``reduce(left, right)`` (default: the
    built-in merge). It builds in the background: see ``status``."""
    body = {"name": name, **_config(inputs, code, reduce_code, memo)}
    return Lens.from_json((yield from call(ctx, json_request("POST", "/lenses", body))))


def get_lens(ctx: Context, repo: str) -> Op[Lens]:
    return Lens.from_json((yield from call(ctx, Request("GET", _lens(repo)))))


def update_lens(
    ctx: Context,
    repo: str,
    inputs: list[str],
    code: str,
    *,
    reduce_code: str | None = None,
    memo: str = "",
) -> Op[Lens]:
    """Replace the lens's configuration; it builds again in the background."""
    request = json_request("PUT", _lens(repo), _config(inputs, code, reduce_code, memo))
    return Lens.from_json((yield from call(ctx, request)))
