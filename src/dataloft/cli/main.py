"""``dataloft``: the command line's entry point (the ``dataloft`` console script).

Importing the command modules adds their commands to the one ``app``. None of them
imports the server at module level (see ``app``), so starting any command costs typer,
rich and, for the data client, httpx.
"""

from __future__ import annotations

from dataloft.cli import (  # noqa: F401 (they add commands)
    admin,
    browse,
    login,
    maintenance,
    pull,
    push,
)
from dataloft.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
