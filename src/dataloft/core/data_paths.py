"""Pigeon Optics data paths: ``/datasets/alice:signs`` names a collection and
``/datasets/alice:signs/records/abc`` one of its records (``/lenses/...`` likewise). Lens
inputs are data paths, and so are the sources in a lens's build logs. The canonical form
encodes each component as JavaScript's ``encodeURIComponent`` does (the original built
its paths so) and has no trailing slash; parsing also takes a trailing slash."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote, unquote

from dataloft.core.errors import Invalid

SOURCES = ("datasets", "lenses")


def component(text: str) -> str:
    """JavaScript's encodeURIComponent."""
    return quote(text, safe="!'()*-._~")


@dataclass(frozen=True)
class DataPath:
    source: str  # "datasets" or "lenses"
    author: str
    name: str
    record_id: str | None = None

    @property
    def collection(self) -> DataPath:
        return replace(self, record_id=None)

    def record(self, record_id: str) -> DataPath:
        return replace(self, record_id=record_id)

    def __str__(self) -> str:
        text = f"/{self.source}/{component(self.author)}:{component(self.name)}"
        if self.record_id is not None:
            text += f"/records/{component(self.record_id)}"
        return text


def parse_data_path(text: str) -> DataPath:
    """A data path as a lens input names it; ``Invalid`` naming it if it is not one."""
    parts = text.strip().rstrip("/").split("/")
    if len(parts) in (3, 5) and parts[0] == "" and parts[1] in SOURCES:
        author, colon, name = parts[2].partition(":")
        if colon and author and name and (len(parts) == 3 or parts[3] == "records"):
            record = unquote(parts[4]) if len(parts) == 5 else None
            if record != "":
                return DataPath(parts[1], unquote(author), unquote(name), record)
    raise Invalid(
        f"{text!r} is not a data path (/datasets/<author>:<name>, "
        "/lenses/<author>:<name>, or either followed by /records/<id>)"
    )
