"""Text functions that the two databases spell differently, as SQLAlchemy expressions that
render the right spelling for each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class Position(FunctionElement[int]):
    """``Position(haystack, needle)``: where ``needle`` first occurs in ``haystack``,
    counted in characters from 1, 0 if nowhere. Case-sensitive on both databases, as
    ``LIKE`` is not on SQLite, and ``%`` and ``_`` are the characters they are."""

    type = Integer()
    inherit_cache = True


@compiles(Position)
def _position(element: Position, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.strpos(*element.clauses), **kw)


@compiles(Position, "sqlite")
def _position_sqlite(element: Position, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.instr(*element.clauses), **kw)
