"""Native API: lenses (``docs/lenses.md``). A lens is a dataset, so its records, versions,
diffs, archives and events are the datasets' routes; these create one and show or change
its configuration and build status."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Response
from pydantic import BaseModel, Field

from dataloft.api.native.deps import NativeCall, native_router
from dataloft.api.native.openapi import ANONYMOUS, errors
from dataloft.api.native.schemas import Body, DatasetName
from dataloft.core.errors import Unauthenticated
from dataloft.core.lenses import MAX_CODE_LENGTH, MAX_INPUTS, LensView, parse_config
from dataloft.core.results import DatasetView

router = native_router(tags=["lenses"])

LENS = "/lenses/{owner}/{name}"


class LensBody(Body):
    inputs: list[str] = Field(
        min_length=1,
        max_length=MAX_INPUTS,
        description="Data paths: /datasets/<owner>:<name>, /lenses/<owner>:<name>, or "
        "either followed by /records/<id>. Each must exist and be readable by you, and no "
        "lens may read itself through a chain of lenses (400 otherwise).",
    )
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_LENGTH,
        description="The body of function map(path, data), in JavaScript; it must compile "
        "(a syntax error is a 400 naming its line and column)",
    )
    reduce_code: str | None = Field(
        None,
        max_length=MAX_CODE_LENGTH,
        description="The body of function reduce(left, right); it must compile. Default: "
        "the built-in merge",
    )
    memo: str = Field("", max_length=100_000)


class LensCreateBody(LensBody):
    name: DatasetName


class LensStatus(BaseModel):
    state: str = Field(description="pending, building, ready or failed")
    pending: bool = Field(description="A build is due: an input moved or the code changed")
    error: str | None
    input_versions: dict[str, int] = Field(description="Input -> version the records reflect")
    last_build: dict[str, Any]


class LensOut(BaseModel):
    dataset: DatasetView
    inputs: list[str]
    code: str
    reduce_code: str | None
    memo: str
    status: LensStatus


def _out(view: LensView) -> LensOut:
    status = view.status()
    return LensOut(
        dataset=view.dataset,
        inputs=view.inputs,
        code=view.map_code,
        reduce_code=view.reduce_code,
        memo=view.memo,
        status=LensStatus(
            state=status["state"],
            pending=status["pending"],
            error=status["error"],
            input_versions=status["inputVersions"],
            last_build=status["lastBuild"],
        ),
    )


def _config(body: LensBody) -> dict[str, Any]:
    return {
        "inputs": body.inputs,
        "code": body.code,
        "reduceCode": body.reduce_code,
        "memo": body.memo,
    }


@router.post("/lenses", status_code=201, response_model=LensOut, responses=errors(400, 409))
def create_lens(body: LensCreateBody, call: NativeCall, response: Response) -> LensOut:
    """A new public lens of yours, built in the background (its status says when)."""
    if call.actor.username is None:
        raise Unauthenticated("log in to create lenses")
    view = call.loft.lenses.create(call.actor, body.name, parse_config(_config(body)))
    owner, name = view.dataset.owner, view.dataset.name
    response.headers["Location"] = f"/loft/v1/lenses/{quote(owner)}/{quote(name)}"
    return _out(view)


@router.get(LENS, response_model=LensOut, responses=errors(404), openapi_extra=ANONYMOUS)
def get_lens(owner: str, name: str, call: NativeCall) -> LensOut:
    """A lens's configuration and build status."""
    return _out(call.loft.lenses.get(call.actor, owner, name))


@router.put(LENS, response_model=LensOut, responses=errors(400, 403, 404))
def configure_lens(owner: str, name: str, body: LensBody, call: NativeCall) -> LensOut:
    """New inputs, code or memo; the lens builds again in the background."""
    call.loft.lenses.require_writer(call.actor, owner, name)  # 401/403/404 before 400s
    call.loft.lenses.configure(call.actor, owner, name, parse_config(_config(body)))
    return _out(call.loft.lenses.get(call.actor, owner, name))
