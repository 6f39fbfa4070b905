"""Route pieces shared by the dialects."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class AnyPathConvertor(Convertor[str]):
    """Like Starlette's ``path``, but also matching newlines: a path with a newline must
    reach validation and get a clear 400, not fall through every route to a 404."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPathConvertor())
