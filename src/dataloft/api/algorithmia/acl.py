"""Algorithmia's read ACLs and dataloft's visibility.

A collection's ``acl.read`` holds exactly one of three forms: ``["user://*"]`` (anyone
logged in may read: dataloft's ``public``), ``["algo://.my/*"]`` (the owner's algorithms:
the default) or ``[]`` (the owner only). dataloft runs no algorithms, so the last two both
mean ``private``; which one the owner chose is remembered in the dataset's metadata under
``algorithmia.read_acl`` so that ``?acl=true`` answers what was set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataloft.core.errors import Invalid
from dataloft.core.results import DatasetView

PUBLIC = "user://*"
MY_ALGORITHMS = "algo://.my/*"
METADATA_KEY = "algorithmia"


@dataclass(frozen=True)
class ReadAcl:
    read: list[str]

    @property
    def visibility(self) -> str:
        return "public" if self.read == [PUBLIC] else "private"


def parse_acl(acl: Any) -> ReadAcl:
    if not isinstance(acl, dict) or not isinstance(acl.get("read"), list):
        raise Invalid('acl must be an object like {"read": ["user://*"]}')
    read = acl["read"]
    if read not in ([], [PUBLIC], [MY_ALGORITHMS]):
        raise Invalid(
            f'unsupported ACL {read!r}: read must be ["{PUBLIC}"] (public), '
            f'["{MY_ALGORITHMS}"] (the default) or [] (private)'
        )
    return ReadAcl(list(read))


def acl_metadata(read: list[str]) -> dict[str, Any]:
    """The metadata (a merge patch) that remembers the ACL's exact form."""
    return {METADATA_KEY: {"read_acl": read}}


def read_acl(dataset: DatasetView) -> list[str]:
    if dataset.visibility == "public":
        return [PUBLIC]
    remembered = dataset.metadata.get(METADATA_KEY)
    if isinstance(remembered, dict) and remembered.get("read_acl") == []:
        return []
    return [MY_ALGORITHMS]
