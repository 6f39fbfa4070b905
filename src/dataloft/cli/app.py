"""The root ``typer`` application every ``dataloft`` command joins.

It lives apart from ``main`` so that the command modules (``admin`` for the operator
commands, ``login``, ``push``, ``pull``, ``browse`` for the data client) can add
themselves to it without importing each other, and without importing anything heavier
than typer and rich: the operator commands load the server (SQLAlchemy, the core) only
when one of them runs, so ``dataloft push`` starts without it.
"""

from __future__ import annotations

import typer

# Help panels: ``dataloft --help`` lists the two families apart.
ADMIN_PANEL = "Server administration (on the server machine)"
CLIENT_PANEL = "Data client (against a server, over HTTP)"

app = typer.Typer(
    help="dataloft: a self-hosted, versioned dataset server, and its client.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
