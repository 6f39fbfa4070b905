"""UFDL's datasets: the nineteen actions on ``/v1/datasets/`` (and on each domain's
prefix, ``/v1/classify/datasets/``, ...), over the core's named datasets
(``core/named_versions.py``).

Who may do what is UFDL's matrix (its reference §4.5), decided here before the core is
asked (the core then checks each write again with its own rule):

- see (retrieve, get a file, download, read metadata): members at any level, and anyone
  when the dataset is public (UFDL kept a public dataset's files from non-members; here
  public means readable, as everywhere in dataloft);
- copy: members at any level (a copy lands in the same project);
- write (files, metadata, clear, merge, update): W and A members, and X members acting
  through a node of their team (``api/ufdl/auth.py``);
- create and delete: W and A members themselves, never through a node;
- hard delete and reinstate: site admins.

Those who may not see a dataset get 404 (UFDL: 403, so any number told whether a
dataset existed); those who see it but may not do the rest get 403, or 401 when they are
anonymous.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from starlette.responses import Response

from dataloft.api.errors import UnprocessableContent, UnsupportedMediaType
from dataloft.api.pipeline import Call, PlainHandler, Routes, streaming
from dataloft.api.transfer import (
    ClosingStreamingResponse,
    attachment_disposition,
    blob_response,
    receive_blob,
    spool_body,
    user_content_headers,
)
from dataloft.api.ufdl.auth import own_level
from dataloft.api.ufdl.common import (
    answer,
    flag,
    json_object,
    moment,
    no_content,
    number,
    only_keys,
    pk,
    put_and_patch,
    required,
    text,
)
from dataloft.api.ufdl.listing import list_route
from dataloft.core.access import Level, Principal
from dataloft.core.changes import FILES
from dataloft.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.named_files import metadata_of
from dataloft.core.named_queries import Where
from dataloft.core.results import NamedDatasetView

NOT_FOUND = "No Dataset matches the given query."
DATA = "application/data"  # what UFDL labels file bytes and archives with
NO_FILENAME = (
    "Missing filename. Request should include a Content-Disposition header with a filename "
    "parameter."
)
_READ_ONLY = (
    "pk",
    "version",
    "previous_version",
    "domain",
    "creator",
    "files",
    "creation_time",
    "deletion_time",
)
_FIELDS = ("name", "project", "licence", "tags", "description", "is_public")


class Rule(Enum):
    SEE = "see"
    COPY = "copy"
    WRITE = "write"
    MANAGE = "manage"
    ADMIN = "admin"


def _member(actor: Principal, team_id: int | None) -> Level | None:
    return own_level(actor, team_id) if team_id is not None else None


def allowed(actor: Principal, rule: Rule, team_id: int | None, public: bool) -> bool:
    if actor.scope is not None and rule is not Rule.SEE:
        return False  # a read-only token (dataloft's) only reads, a site admin's too
    if actor.is_admin:
        return True
    own = _member(actor, team_id)
    if rule is Rule.SEE:
        return own is not None or public
    if rule is Rule.COPY:
        return own is not None
    if rule is Rule.WRITE:
        raised = actor.teams.get(team_id) if team_id is not None else None
        return raised is not None and raised.at_least(Level.WRITE)
    if rule is Rule.MANAGE:
        return own is not None and own.at_least(Level.WRITE)
    return False


def require(actor: Principal, rule: Rule, where: Where) -> None:
    if allowed(actor, rule, where.team_id, where.public):
        return
    if not allowed(actor, Rule.SEE, where.team_id, where.public):
        raise NotFound(NOT_FOUND)
    if actor.is_anonymous:
        raise Unauthenticated("log in first")
    raise Forbidden("You do not have permission to perform this action.")


def require_filename(call: Call) -> None:
    """UFDL reads an uploaded body as a file, which its parser will only take with a
    ``Content-Disposition`` that names one (whose name it then ignores)."""
    disposition = call.header("content-disposition") or ""
    if "filename" not in disposition.lower():
        raise Invalid(NO_FILENAME)


def render(view: NamedDatasetView) -> dict[str, Any]:
    return {
        "pk": view.id,
        "name": view.name,
        "version": view.version,
        "previous_version": view.previous_version,
        "description": view.description,
        "project": view.project_id,
        "licence": view.licence_id,
        "is_public": view.public,
        "domain": view.domain,
        "tags": ",".join(view.tags),
        "creator": view.creator,
        "creation_time": moment(view.created),
        "deletion_time": moment(view.deleted_at),
        "files": {name: digest for name, digest, _ in view.files},
    }


# --- one domain's routes ---------------------------------------------------------------------


class DatasetRoutes:
    """The dataset actions under one prefix; ``domain`` (a domain's code) is what
    datasets created there hold, and what its list shows (None: every domain)."""

    def __init__(self, domain: str | None) -> None:
        self.domain = domain

    def where(
        self, call: Call, rule: Rule, dataset_id: int | None = None, *, any_domain: bool = False
    ) -> Where:
        """The dataset, if the caller may do ``rule`` to it. Under a domain's prefix only
        that domain's datasets are found (``/v1/datasets/`` finds every domain's), unless
        ``any_domain`` (a merge's source: another domain's is UFDL's 406, not a 404)."""
        where = call.loft.named_versions.where(pk(call) if dataset_id is None else dataset_id)
        if self.domain is not None and where.domain != self.domain and not any_domain:
            raise NotFound(NOT_FOUND)
        require(call.actor, rule, where)
        return where

    def view(self, call: Call, dataset_id: int | None = None) -> Response:
        return answer(
            render(call.loft.named_versions.view(pk(call) if dataset_id is None else dataset_id))
        )

    # --- the dataset ---

    def create(self, call: Call) -> Response:
        body = json_object(call)
        only_keys(body, _FIELDS + _READ_ONLY)
        required(body, "name", "project", "licence", "tags")
        name, project_id = text(body, "name", 200), number(body, "project")
        licence_id, tags = number(body, "licence"), text(body, "tags", 1000)
        description = text(body, "description", 10_000) if "description" in body else ""
        public = flag(body, "is_public") if "is_public" in body else False
        team_id = call.loft.directory.team_of_project(project_id)
        if not allowed(call.actor, Rule.MANAGE, team_id, False):
            if call.actor.is_anonymous:
                raise Unauthenticated("log in first")
            raise Forbidden("You do not have permission to perform this action.")
        made = call.loft.named_versions.create(
            call.actor,
            name=name,
            project_id=project_id,
            licence_id=licence_id,
            tags=tags,
            description=description,
            public=public,
            domain=self.domain,
        )
        return answer(render(made), 201)

    def retrieve(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        return self.view(call)

    def update(self, call: Call, partial: bool) -> Response:
        self.where(call, Rule.WRITE)
        body = json_object(call)
        only_keys(body, _FIELDS + _READ_ONLY)
        if not partial:
            required(body, "name", "project", "licence", "tags")
        changes: dict[str, Any] = {}
        if "name" in body:
            changes["name"] = text(body, "name", 200)
        if "project" in body:
            changes["project"] = number(body, "project")
            team_id = call.loft.directory.team_of_project(changes["project"])
            if not allowed(call.actor, Rule.WRITE, team_id, False):
                raise Forbidden("moving a dataset needs W in the team it moves to")
        if "licence" in body:
            changes["licence"] = number(body, "licence")
        if "tags" in body:
            changes["tags"] = text(body, "tags", 1000)
        if "description" in body:
            changes["description"] = text(body, "description", 10_000)
        if "is_public" in body:
            changes["public"] = flag(body, "is_public")
        return answer(render(call.loft.named_versions.update(call.actor, pk(call), changes)))

    def destroy(self, call: Call) -> Response:
        self.where(call, Rule.MANAGE)
        call.loft.named_versions.retire(call.actor, pk(call))
        return no_content()

    def clear(self, call: Call) -> Response:
        self.where(call, Rule.WRITE)
        return answer(render(call.loft.named_versions.clear(call.actor, pk(call))))

    def hard(self, call: Call) -> Response:
        self.where(call, Rule.ADMIN)
        return answer(render(call.loft.named_versions.purge(call.actor, pk(call))))

    def reinstate(self, call: Call) -> Response:
        self.where(call, Rule.ADMIN)
        return answer(render(call.loft.named_versions.reinstate(call.actor, pk(call))))

    # --- copies, merges, downloads ---

    def copy(self, call: Call) -> Response:
        self.where(call, Rule.COPY)
        body = json_object(call, optional=True)
        unknown = {k: v for k, v in body.items() if k not in ("new_name", "only_files")}
        if unknown:
            raise UnprocessableContent(
                "Unknown parameters: " + ", ".join(f"{k}={v}" for k, v in unknown.items())
            )
        new_name = body.get("new_name")
        if new_name is not None and not isinstance(new_name, str):
            raise Invalid(f"Bad name '{new_name}': New dataset name must be a string")
        only = body.get("only_files")
        if only is not None and (
            not isinstance(only, list) or not all(isinstance(n, str) for n in only)
        ):
            raise Invalid("only_files: must be a list of file names")
        made = call.loft.named_versions.copy(call.actor, pk(call), new_name, only)
        return answer(render(made))

    def merge(self, call: Call) -> Response:
        other = call.request.path_params["other"]
        self.where(call, Rule.WRITE)
        self.where(call, Rule.WRITE, other, any_domain=True)
        body = json_object(call, optional=True)
        if "delete" not in body:
            raise Invalid("'delete' is a required property")
        only_keys(body, ("delete", "hard"))
        delete = flag(body, "delete")
        hard = flag(body, "hard") if "hard" in body else False
        merged = call.loft.named_versions.merge(
            call.actor, pk(call), other, delete=delete, hard=hard
        )
        return answer(render(merged))

    def download(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        body = json_object(call, optional=True)
        filetype = body.get("filetype", "zip")
        if not isinstance(filetype, str):
            raise Invalid("The type passed to download parameter 'filetype' should be str")
        if filetype not in ("zip", "tar.gz"):
            raise UnsupportedMediaType(f'Unsupported media type "{filetype}" in request.')
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise Invalid("The type passed to download parameter 'params' should be an object")
        unknown = {k: v for k, v in params.items() if k != "annotations_args"}
        if unknown:
            raise UnprocessableContent(
                "Unknown parameters: " + ", ".join(f"{k}={v}" for k, v in unknown.items())
            )
        archive = call.loft.named_versions.archive(call.actor, pk(call), filetype)
        # An archive of user bytes: sandboxed like every answer carrying them, and always
        # a download, as UFDL sends it.
        headers = {
            **user_content_headers(call.request, DATA, archive.filename),
            "Content-Disposition": attachment_disposition(archive.filename),
        }
        return ClosingStreamingResponse(archive.chunks, media_type=DATA, headers=headers)

    # --- files ---

    async def add_file(self, call: Call) -> Response:
        filename = call.param("filename")
        require_filename(call)
        loft = call.loft
        where = await call.in_thread(loft.named_versions.where, pk(call))
        require(call.actor, Rule.WRITE, where)
        stored = await receive_blob(call.request, loft.blobs)
        name, digest = await call.in_thread(
            loft.named_versions.add_file, call.actor, pk(call), filename, stored
        )
        return answer({"filename": name, "handle": digest})

    async def add_files(self, call: Call) -> Response:
        """A zip archive as the body: every file in it, all or none."""
        require_filename(call)
        loft = call.loft
        where = await call.in_thread(loft.named_versions.where, pk(call))
        require(call.actor, Rule.WRITE, where)
        limits = loft.settings.zip_limits
        with await spool_body(call.request, limits.total_bytes) as spool:
            added = await call.in_thread(
                loft.named_versions.add_archive, call.actor, pk(call), spool, limits
            )
        return answer([{"filename": name, "handle": digest} for name, digest in added])

    def get_file(self, call: Call) -> Response:
        where = self.where(call, Rule.SEE)
        loft = call.loft
        name = loft.named_versions.file_name(pk(call), call.param("filename"))
        found = loft.browse.get_entry(call.actor, *where.address(), FILES, name)
        return blob_response(call.request, loft.blobs, found, media_type=DATA)

    def delete_file(self, call: Call) -> Response:
        self.where(call, Rule.WRITE)
        name, digest = call.loft.named_versions.delete_file(
            call.actor, pk(call), call.param("filename")
        )
        return answer({"filename": name, "handle": digest})

    def set_metadata(self, call: Call) -> Response:
        self.where(call, Rule.WRITE)
        body = json_object(call)
        only_keys(body, ("metadata",))
        required(body, "metadata")
        value = body["metadata"]
        if not isinstance(value, str):
            raise Invalid("metadata: must be a string")
        stored = call.loft.named_versions.set_metadata(
            call.actor, pk(call), call.param("filename"), value
        )
        return answer({"metadata": stored})

    def get_metadata(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        value = call.loft.named_versions.metadata(pk(call), call.param("filename"))
        return answer({"metadata": value})

    def all_metadata(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        files = call.loft.named_versions.files(pk(call))
        return answer({name: metadata_of(notes) for name, (_, notes) in files.items()})

    def routes(self, base: str) -> Routes:
        nv = "/{pk:int}"
        listing: PlainHandler = list_route(
            lambda c, s: c.loft.named_versions.listed(c.actor, s, self.domain), render
        )
        return {
            f"{base}/list": {"POST": listing},
            f"{base}/create": {"POST": self.create},
            f"{base}{nv}": {
                "GET": self.retrieve,
                **put_and_patch(self.update),
                "DELETE": self.destroy,
            },
            f"{base}{nv}/clear": {"DELETE": self.clear},
            f"{base}{nv}/merge/{{other:int}}": {"POST": self.merge},
            f"{base}{nv}/download": {"POST": self.download},
            f"{base}{nv}/copy": {"POST": self.copy},
            f"{base}{nv}/files/{{filename:anypath}}": {
                "POST": streaming(self.add_file),
                "GET": self.get_file,
                "DELETE": self.delete_file,
            },
            f"{base}{nv}/files-multi": {"POST": streaming(self.add_files)},
            f"{base}{nv}/metadata": {"GET": self.all_metadata},
            f"{base}{nv}/metadata/{{filename:anypath}}": {
                "POST": self.set_metadata,
                "GET": self.get_metadata,
            },
            f"{base}{nv}/hard": {"DELETE": self.hard},
            f"{base}{nv}/reinstate": {"DELETE": self.reinstate},
        }


# Each domain's datasets live under its own prefix, as UFDL's apps mount them.
PREFIXES = {"classify": "ic", "segments": "is", "objdet": "od", "spectra": "sc", "speech": "sp"}

ROUTES: Routes = {
    **DatasetRoutes(None).routes("/v1/datasets"),
    **{
        path: handlers
        for prefix, code in PREFIXES.items()
        for path, handlers in DatasetRoutes(code).routes(f"/v1/{prefix}/datasets").items()
    },
}
