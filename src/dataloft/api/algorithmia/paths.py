"""Which thing a ``/v1/data/...`` path names.

A data path is ``<owner>/<collection>/<path inside it>``: the owner is a username or
``.my`` (the caller), a collection is a dataset ``owner/name``, and anything deeper is a
file or a folder (a path prefix) inside that dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataloft.core.access import Principal
from dataloft.core.errors import Invalid, Unauthenticated
from dataloft.core.names import validate_dataset_name, validate_owner_lookup

MY = ".my"


@dataclass(frozen=True)
class DataPath:
    spelled: str  # as the caller wrote it (".my/robots/a.txt"), for data:// URIs in answers
    owner: str | None = None  # a username; ".my" already resolved
    collection: str | None = None
    inner: str = ""  # the path inside the collection; "" for the collection itself

    @property
    def uri(self) -> str:
        return f"data://{self.spelled}"

    @property
    def depth(self) -> int:
        """0: the data root, 1: an owner, 2: a collection, 3: something inside one."""
        if self.owner is None:
            return 0
        if self.collection is None:
            return 1
        return 3 if self.inner else 2

    def child(self, name: str) -> str:
        """The caller's spelling of ``name`` inside this path."""
        return f"{self.spelled}/{name}" if self.spelled else name


def parse_data_path(raw: str, caller: Principal) -> DataPath:
    """``raw`` is the percent-decoded path after ``/v1/data/`` (``%2F`` already became
    ``/``); slashes around it do not matter."""
    spelled = raw.strip("/")
    if not spelled:
        return DataPath("")
    segments = spelled.split("/")
    if ":" in segments[0]:
        raise Invalid(
            f"unsupported data connector in {spelled!r}: this server holds hosted data "
            "(data://) only, not s3://, dropbox:// or other connectors"
        )
    if "" in segments:
        raise Invalid(f"invalid data path {spelled!r}: empty path segment")
    owner = segments[0]
    if owner == MY:
        if caller.username is None:
            raise Unauthenticated("log in to use .my")
        owner = caller.username
    validate_owner_lookup(owner)
    if len(segments) == 1:
        return DataPath(spelled, owner)
    collection = validate_dataset_name(segments[1])
    return DataPath(spelled, owner, collection, "/".join(segments[2:]))
