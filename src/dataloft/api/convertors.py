"""URL convertors the dialects' route paths use (``{path:anypath}``, ``{digest:hex64}``,
``{sha256:blobname}``).

Starlette keeps convertors in one process-wide table; ``create_app`` registers these
before any dialect builds a route, so importing a module never changes that table.
"""

from __future__ import annotations

from starlette.convertors import CONVERTOR_TYPES, Convertor, register_url_convertor


class AnyPathConvertor(Convertor[str]):
    """Like Starlette's ``path``, but also matching newlines: a path with a newline must
    reach validation and get a clear 400, not fall through every route to a 404."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class Sha256Convertor(Convertor[str]):
    """A sha256 in hex, either case (content-addressed URLs name blobs this way)."""

    regex = "[0-9a-fA-F]{64}"

    def convert(self, value: str) -> str:
        return value.lower()

    def to_string(self, value: str) -> str:
        return value


class BlobNameConvertor(Convertor[str]):
    """One path segment that is not ``missing`` or ``batch``: ``/blobs/missing`` is the bulk
    probe's and ``/blobs/batch`` the bulk upload's (POST only), so a PUT or HEAD of them is
    that path's 405, not a digest's 400; any other segment reaches the digest's own
    validation (a 400 naming what is wrong)."""

    regex = r"(?!(?:missing|batch)$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


CONVERTORS: dict[str, Convertor[str]] = {
    "anypath": AnyPathConvertor(),
    "hex64": Sha256Convertor(),
    "blobname": BlobNameConvertor(),
}


def register_convertors() -> None:
    for name, convertor in CONVERTORS.items():
        if name not in CONVERTOR_TYPES:
            register_url_convertor(name, convertor)
